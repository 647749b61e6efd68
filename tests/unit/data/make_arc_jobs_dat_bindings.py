"""Write an ARC 7 client job list with ARC's own code (JobInformationStorageSQLite, the class arcsub writes with).

Run inside the stack chroot (python3-nordugrid-arc; no CE, no daemons needed)::

    compose/arc-slurm/chroot-stack exec python3 /tmp/make_arc_jobs_dat_bindings.py /tmp/arc-jobs.dat

The two jobs carry what arcsub records for REST jobs (job URL id, ``org.nordugrid.arcrest`` interfaces, the
endpoint as service URL, the description sent, the local submission time); the first one's name and
description hold ``'``, ``#``, ``%`` and a newline, which ARC writes %-escaped.
"""
from __future__ import annotations

import sys

import arc  # the ARC SWIG bindings, inside the chroot only

ENDPOINT = "https://localhost:8443/arex"
JOBS = (
    ("nOBMDmPxZ4unU2Dbm8YlRqjmABFKDmABFKDmWnJKDmABFKDm8Nj5rn", "it's #1 100%",
     '&( executable = "/bin/echo" )( arguments = "hello" )( jobname = "it\'s #1 100%" )( stdout = "out.txt" )\n'
     '( stderr = "err.txt" )( walltime = "600" )\n'),
    ("7MSNDmPxZ4unU2Dbm8YlRqjmABFKDmABFKDmWnJKDmABFKDm9Nj5rn", "adl-job",
     '<?xml version="1.0" encoding="UTF-8"?>\n<ActivityDescription xmlns="http://www.eu-emi.eu/es/2010/12/adl">\n'
     "  <ActivityIdentification><Name>adl-job</Name></ActivityIdentification>\n"
     "  <Application><Executable><Path>/bin/sleep</Path><Argument>120</Argument></Executable></Application>\n"
     "</ActivityDescription>\n"),
)

store = arc.JobInformationStorageSQLite(sys.argv[1])
jobs = arc.JobList()
for job_id, name, description in JOBS:
    job = arc.Job()
    job.JobID = f"{ENDPOINT}/rest/1.0/jobs/{job_id}"
    job.IDFromEndpoint = job_id
    job.Name = name
    job.JobStatusInterfaceName = job.JobManagementInterfaceName = "org.nordugrid.arcrest"
    job.ServiceInformationInterfaceName = "org.nordugrid.arcrest"
    job.JobStatusURL = job.JobManagementURL = job.ServiceInformationURL = arc.URL(ENDPOINT)
    job.JobDescriptionDocument = description
    job.LocalSubmissionTime = arc.Time(1796176140)
    jobs.push_back(job)
if not store.Write(jobs):
    sys.exit("JobInformationStorageSQLite.Write failed")
