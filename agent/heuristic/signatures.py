"""What error text means: the phrasings real systems (Go, Java, Python, Node, Envoy, PostgreSQL,
Kubernetes) use for each failure family. The heuristic classifies log templates and span errors with
these, so it keys on what the telemetry says, not on any one generator's wording."""
from __future__ import annotations

import re

FAMILIES: dict[str, re.Pattern[str]] = {name: re.compile(rx, re.I) for name, rx in {
    "tls": r"x509|certificate (has )?expired|certificate verify failed|CERTIFICATE_VERIFY_FAILED|"
           r"(tls|ssl) handshake|bad certificate|certificate is not yet valid|PKIX path|expired certificate|"
           r"certificate_expired|SSLHandshakeException",
    "dns": r"no such host|NXDOMAIN|SERVFAIL|name or service not known|temporary failure in name resolution|"
           r"could not resolve|UnknownHostException|getaddrinfo|dns (lookup|resolution|query)|EAI_AGAIN|"
           r"name resolution|resolve host",
    "rate_limit": r"\b429\b|too many requests|rate[ _-]?limit|throttl|RESOURCE_EXHAUSTED|quota exceeded|SlowDown",
    "oom": r"OOMKill|out of memory|OutOfMemoryError|\bOOM\b|memory limit|Cannot allocate memory|MemoryError|"
           r"heap space|exit code 137",
    "disk": r"no space left on device|ENOSPC|disk (is )?full|disk quota exceeded|filesystem full",
    "db_pool": r"remaining connection slots|too many (connections|clients)|connection pool|acquir\w* connection|"
               r"could not obtain connection|pool exhausted|max_connections|lock wait timeout|statement timeout|"
               r"slow query",
    "conn_refused": r"connection refused|ECONNREFUSED|no route to host|EHOSTUNREACH|connection reset|"
                    r"no healthy upstream|upstream connect error|host unreachable|network is unreachable|"
                    # Spring Cloud's load balancer: the registry lists no instance to call (not the caller's code)
                    r"no instances available for|does not have available server",
    "timeout": r"timed? ?out|deadline exceeded|DEADLINE_EXCEEDED|ETIMEDOUT|context canceled",
    # an answer the caller cannot use: a body it cannot parse, a field that fails validation (a wrong result)
    "bad_response": r"invalid[ _]response|failed to (decode|parse|unmarshal|deseriali[sz]e)|cannot (decode|parse|"
                    r"unmarshal|deserialize)|unexpected end of JSON|JSONDecodeError|JsonParseException|"
                    r"MismatchedInputException|malformed (response|body|json)|unexpected token .{0,20} in JSON",
    # a fault in the code itself: an unhandled exception, a panic, a crash with a stack trace
    "exception": r"\bpanic:|Traceback \(most recent call last\)|\b\w+(Exception|Error):|NullPointer|"
                 r"segmentation fault|SIGSEGV|index out of range|undefined is not|cannot read propert|"
                 r"KeyError|unhandled (exception|rejection)|stack ?trace",
}.items()}


def families(text: str) -> set[str]:
    return {name for name, rx in FAMILIES.items() if rx.search(text or "")}
