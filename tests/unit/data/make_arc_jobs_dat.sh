#!/bin/sh
# Regenerate tests/unit/data/arc-jobs.dat with ARC 7's own arcsub against the arc-slurm stack's CE (proxy
# configuration up), then kill and clean the jobs on the CE. Run from the repository root, holding the stack lock:
#   flock /var/lock/arc-stack.lock sh tests/unit/data/make_arc_jobs_dat.sh
set -eu
root=${ARC_STACK_ROOT:-/var/lib/arc-intercede/chroot}
state=/var/lib/arc-intercede/state
runner=compose/arc-slurm/chroot-stack
dir=$(mktemp -d "$root/tmp/arcjobs.XXXXXX")
in="/${dir#"$root"/}"
trap 'rm -rf "$dir"' EXIT
cp -r "$state/ca" "$dir/ca"
cp "$state/user/proxy.pem" "$dir/proxy.pem" && chmod 600 "$dir/proxy.pem"
printf '[common]\ncacertificatesdirectory = %s/ca\njoblisttype = SQLITE\n' "$in" > "$dir/client.conf"
cat > "$dir/a.xrsl" <<'XRSL'
&(executable="/bin/echo")(arguments="hello")(jobname="it's #1 100%")(stdout="out.txt")(stderr="err.txt")
 (wallTime="10 minutes")
XRSL
cat > "$dir/b.adl" <<'ADL'
<?xml version="1.0" encoding="UTF-8"?>
<ActivityDescription xmlns="http://www.eu-emi.eu/es/2010/12/adl">
  <ActivityIdentification><Name>adl-job</Name></ActivityIdentification>
  <Application><Executable><Path>/bin/sleep</Path><Argument>120</Argument></Executable></Application>
</ActivityDescription>
ADL
run() { "$runner" exec env X509_USER_PROXY="$in/proxy.pem" "$@" --x509-authentication -z "$in/client.conf" \
        -j "$in/jobs.dat"; }
run arcsub -C https://localhost:8443/arex -T arcrest "$in/a.xrsl" "$in/b.adl"
cp "$dir/jobs.dat" "${OUT:-tests/unit/data/arc-jobs.dat}"
run arckill -a || true
sleep 20
run arcclean -a -f || true
