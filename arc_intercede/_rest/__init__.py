"""The ARC REST boundary: the only package that imports pyarcrest.

Blocking clients, narrow subclasses of pyarcrest's ``ARCRest_1_0``/``ARCRest_1_1``
(:mod:`.versions`, :mod:`.operations`), over a verified, capped, deadline-bound HTTP transport
(:mod:`.transport`, :mod:`.deadlines`, :mod:`.listing`), and the async :class:`ConnectionPool`
(:mod:`.connpool`) through which the backend calls them, one thread per connection at a time.
Everything handed out is typed; pyarcrest ``Result`` objects stay inside.

pyarcrest 0.5 defects neutralised here:

1. Shared mutable ``headers``/``params`` defaults (token leak): :meth:`SafeHTTPClient.request`
   copies both before touching them, and adds ``Authorization`` only to its private copy.
2. Blind retry of every method: only idempotent requests are retried, once, after a connection
   reset; ``action=new``, delegation ``new``/``renew`` and streamed bodies never are, and they
   always go over a fresh connection. Uploads retry by reopening the file.
3, 4. Unverified TLS / no CA directory: every connection verifies the CE against the configured
   CA directory or bundle with hostname checks, in token and proxy mode alike.
5. ``set_debuglevel(1)``: our connections never enable http.client's debug output (which pyarcrest
   routes to its logger, headers and bearer tokens included); requests are logged without headers.
6. Not thread-safe: one connection per client object; the pool never shares one between threads.
7. No timeouts: separate connect and read deadlines on every connection.
8. Listing key ``dirs``: the listing is parsed here with A-REX's ``dir`` key.
9. Path escapes in downloads: downloads are done by :mod:`arc_intercede.transfer`, contained.
10. No percent-encoding: every session path segment is quoted.
11, 12. Delegation renewal status and ``Bearer`` in ``X-Token-Delegation``: own implementations.
13. Dropped reason phrase: error responses carry A-REX's reason phrase (plus any body).
14. ``ARCRest_1_0`` refuses tokens (``assert``): auth is the HTTP client's job, on both versions.
15. No chunking, silent ``zip`` truncation: the connection pool chunks; replies are checked for count and
    alignment here and a mismatch is an error, never a dropped id.
16. ``import arc``: ``submitJobs`` and the description helpers are never called.
17. Unbounded bodies: every reply body is read with a byte cap (refused at once when its
    ``Content-Length`` is over it), every request has a wall-clock deadline a trickling server
    cannot stretch, and listings are parsed as they stream, keeping at most ``max_entries`` names.
18, 19. Empty delegation list, ``int("")`` exit codes, ``State`` as a string: parsed defensively.
20. Hard-coded ``/tmp/x509up_u<uid>`` and a new connection per worker: credentials are explicit.

Error mapping travels with the connection and its responses: nothing a client method raises is a
raw ``OSError``, ``ssl`` or ``http.client`` error. A failure to reach the CE is a
:class:`~arc_intercede.errors.TransportError` with an empty ``kind``; a failure of one exchange on
an established connection carries its reason code in ``kind``. A connection that saw a protocol
violation (bytes past the end of a reply, a bad status line) or an interrupted exchange is closed
and never reused. Another thread stops an exchange only by shutting the socket down
(:meth:`_Connection.interrupt`); closing is always done by the thread that uses the connection, so
nothing ever waits on a lock a blocked reader holds.
"""

from __future__ import annotations

from arc_intercede._rest.connpool import ConnectionPool, unique
from arc_intercede._rest.errors import map_arc_errors
from arc_intercede._rest.models import ClientSettings, JobInfo, JobReply, Listing, possible_job_id
from arc_intercede._rest.versions import Rest10, Rest11, RestClient, negotiate

__all__ = [
    "ClientSettings",
    "ConnectionPool",
    "JobInfo",
    "JobReply",
    "Listing",
    "Rest10",
    "Rest11",
    "RestClient",
    "map_arc_errors",
    "negotiate",
    "possible_job_id",
    "unique",
]
