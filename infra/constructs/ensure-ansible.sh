#!/bin/sh
# Ensure Ansible: the script of the AutoProvisioner's own SSM Command document (ensure-ansible-document.ts).
# POSIX sh, runs as root on whatever /bin/sh the distribution has. A no-op when ansible-playbook exists.
# unzip is installed too: AWS-ApplyAnsiblePlaybooks unzips the playbook bundle with it.
set -eu
if command -v ansible-playbook >/dev/null 2>&1 && command -v unzip >/dev/null 2>&1; then
  echo "Ansible is already installed: $(ansible-playbook --version | head -n 1)"
  exit 0
fi
ID=unknown; VERSION_ID=0; ID_LIKE=""
# AUTOPROV_OS_RELEASE: only for the tests, which play each distribution; on an instance it is unset.
OS_RELEASE="${AUTOPROV_OS_RELEASE:-/etc/os-release}"
if [ -r "${OS_RELEASE}" ]; then . "${OS_RELEASE}"; fi
major="${VERSION_ID%%.*}"
echo "Installing Ansible on ${ID} ${VERSION_ID}"
case "${ID}" in
  amzn)
    if [ "${major}" = "2" ]; then
      amazon-linux-extras install -y ansible2 && yum install -y unzip
    else
      dnf install -y ansible-core unzip
    fi ;;
  debian|ubuntu)
    export DEBIAN_FRONTEND=noninteractive
    # cloud-init may still hold the dpkg lock on a fresh instance: wait for it instead of failing.
    apt-get -o DPkg::Lock::Timeout=600 update -q
    apt-get -o DPkg::Lock::Timeout=600 install -y -q ansible-core unzip || apt-get -o DPkg::Lock::Timeout=600 install -y -q ansible unzip ;;
  rhel|centos|rocky|almalinux|ol|fedora)
    if command -v dnf >/dev/null 2>&1; then dnf install -y ansible-core unzip; else yum install -y epel-release && yum install -y ansible unzip; fi ;;
  *)
    case " ${ID_LIKE} " in
      *" debian "*) export DEBIAN_FRONTEND=noninteractive; apt-get update -q && apt-get install -y -q ansible-core unzip ;;
      *" rhel "*|*" fedora "*) dnf install -y ansible-core unzip || yum install -y ansible unzip ;;
      *) echo "Unsupported distribution ${ID}: install ansible-core yourself, or set ansibleInstall to preinstalled or document." >&2; exit 1 ;;
    esac ;;
esac
if ! command -v ansible-playbook >/dev/null 2>&1; then
  echo "ansible-playbook is still missing after the install: see the output above." >&2
  exit 1
fi
echo "Installed: $(ansible-playbook --version | head -n 1)"
