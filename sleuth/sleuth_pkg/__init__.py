"""sleuth: a streaming query tool for the JSON Lines flow records written by joy.

The package is split by pipeline stage:

  reader       open inputs (files, stdin, gzip/bz2/xz, pcap via joy), yield records
  stitch       merge active-timeout continuations of the same flow
  dnslink      add ``linked_dns`` to flows whose destination was a DNS answer
  tlssec       ``--tls_sec``: classify TLS parameters against a policy file
  fingerprint  ``--fingerprint``: match client fingerprints against a database
  query        ``--where``: parse the query language and compile it to closures
  projection   ``--select``: parse selection specs and project records
  aggregate    ``--dist``, ``--groupby``, ``--sum``, ``--count``, ``--stats``
  output       JSON / pretty / CSV / TSV writers
  cli          command line and the pipeline that ties the stages together

Only the Python 3 standard library is used (Python 3.9 or later).
"""

__version__ = "1.0.0"
