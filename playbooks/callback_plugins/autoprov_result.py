# -*- coding: utf-8 -*-
# Ansible AutoProvisioner: one machine-readable line at the end of a playbook run.
#
# An aggregate callback (it runs beside the normal stdout callback, which keeps printing the usual log).
# When the run ends it prints ONE line:  AUTOPROV-RESULT {json}
#   {"v": 1, "playbook": "webserver.yml", "check": false,
#    "recap": {"<host>": {"ok": 3, "changed": 1, "failed": 1, "unreachable": 0, "skipped": 0,
#                         "rescued": 0, "ignored": 0}},
#    "failures": [{"host": …, "task": …, "action": …, "message": …, "unreachable": false}],
#    "changes": [{"host": …, "task": …, "action": …}],   # in check mode: the tasks that WOULD change
#    "omitted": {"failures": n, "changes": n, "hosts": n}}
# Sizes are bounded here and again by the parser (functions/core/ansible-result.ts). Module arguments,
# extra vars and whole results are never printed: only task names, module names and the failure message
# (Ansible has already replaced a no_log task's result by its "censored" notice).
# Only stable callback APIs (CallbackBase, v2_* hooks, AggregateStats.summarize) are used: ansible-core
# 2.14 (Debian 12) and later. See docs/adr/0012-ansible-result-line.md.
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = """
    name: autoprov_result
    type: aggregate
    short_description: prints one AUTOPROV-RESULT JSON line summarising the run
    description:
      - Ansible AutoProvisioner reads this line to record recap counts, failed tasks and changed tasks.
    requirements:
      - enabled in ansible.cfg (callbacks_enabled = autoprov_result)
"""

import json
import os

from ansible.plugins.callback import CallbackBase

MARKER = "AUTOPROV-RESULT "
MAX_FAILURES = 10
MAX_CHANGES = 50
MAX_HOSTS = 50
MAX_NAME = 200
MAX_MESSAGE = 1000


def _cut(text, limit):
    text = u"" if text is None else u"%s" % (text,)
    text = u" ".join(text.split()) if u"\n" not in text else text.strip()
    return text if len(text) <= limit else text[: limit - 1] + u"\u2026"


def _tail(text, limit):
    text = (u"%s" % (text,)).strip()
    return text if len(text) <= limit else u"\u2026" + text[-(limit - 1):]


def _message(res):
    """The failure message of one task result (dict), never its arguments."""
    if not isinstance(res, dict):
        return _cut(res, MAX_MESSAGE)
    if res.get("censored"):
        return _cut(res.get("censored"), MAX_MESSAGE)
    items = res.get("results")
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict) and (item.get("failed") or item.get("unreachable")):
                inner = _message(item)
                label = item.get("_ansible_item_label", item.get("item"))
                if label is not None and not isinstance(label, (dict, list)):
                    return _cut(u"item %s: %s" % (label, inner), MAX_MESSAGE)
                return inner
    msg = res.get("msg") or res.get("reason") or u""
    stderr = res.get("stderr") or u""
    if not msg and not stderr and res.get("rc") is not None:
        msg = u"exit code %s" % res.get("rc")
    if stderr and (not msg or msg == "non-zero return code"):
        # A command's own error is at the end of its stderr.
        return _cut(u"%s: %s" % (msg or u"stderr", _tail(stderr, MAX_MESSAGE // 2)), MAX_MESSAGE)
    return _cut(msg or u"failed (no message)", MAX_MESSAGE)


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "autoprov_result"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self._playbook = None
        self._check = False
        self._failures = []
        self._changes = []
        self._omitted = {"failures": 0, "changes": 0, "hosts": 0}

    def _ref(self, result):
        task = result._task
        name = task.get_name() if hasattr(task, "get_name") else getattr(task, "name", u"")
        return {
            "host": _cut(result._host.get_name(), MAX_NAME),
            "task": _cut(name, MAX_NAME),
            "action": _cut(getattr(task, "action", u""), MAX_NAME),
        }

    def _failure(self, result, unreachable):
        if len(self._failures) >= MAX_FAILURES:
            self._omitted["failures"] += 1
            return
        entry = self._ref(result)
        entry["message"] = _message(result._result)
        entry["unreachable"] = unreachable
        self._failures.append(entry)

    def v2_playbook_on_start(self, playbook):
        self._playbook = os.path.basename(getattr(playbook, "_file_name", u"") or u"")
        try:
            from ansible import context

            self._check = bool(context.CLIARGS.get("check", False))
        except Exception:  # pragma: no cover - the CLI arguments are always there in ansible-playbook
            self._check = False

    def v2_runner_on_failed(self, result, ignore_errors=False):
        if not ignore_errors:
            self._failure(result, False)

    def v2_runner_on_unreachable(self, result):
        self._failure(result, True)

    def v2_runner_on_ok(self, result):
        if not result._result.get("changed", False):
            return
        if len(self._changes) >= MAX_CHANGES:
            self._omitted["changes"] += 1
            return
        self._changes.append(self._ref(result))

    def v2_playbook_on_stats(self, stats):
        recap = {}
        for host in sorted(stats.processed.keys()):
            if len(recap) >= MAX_HOSTS:
                self._omitted["hosts"] += 1
                continue
            counts = stats.summarize(host)
            recap[_cut(host, MAX_NAME)] = {
                "ok": counts.get("ok", 0),
                "changed": counts.get("changed", 0),
                "failed": counts.get("failures", 0),
                "unreachable": counts.get("unreachable", 0),
                "skipped": counts.get("skipped", 0),
                "rescued": counts.get("rescued", 0),
                "ignored": counts.get("ignored", 0),
            }
        summary = {
            "v": 1,
            "playbook": self._playbook,
            "check": self._check,
            "recap": recap,
            "failures": self._failures,
            "changes": self._changes,
            "omitted": self._omitted,
        }
        line = MARKER + json.dumps(summary, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        self._display.display(line)
