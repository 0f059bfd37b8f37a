// Local mode entry point (npm start). Built by the local-mode issue.
console.error('Local mode is not built yet: see issue "Local mode" and the README status table.');
process.exit(1);
