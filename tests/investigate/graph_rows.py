"""A behavior graph's raw tables written row by row, for the investigation rules' tests: events
straight into api_events and findings (the readers and loads have their own tests)."""

from __future__ import annotations

from typing import Any

from gumshoe.graph.store import GraphStore
from gumshoe.investigate.engine import DAY_MS

ACCOUNT = "111111111111"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
BOB = f"arn:aws:iam::{ACCOUNT}:user/bob"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/Deployer"
START = 1_790_000_000_000 - 1_790_000_000_000 % DAY_MS  # a scope start at midnight
END = START + 2 * DAY_MS

SEATTLE, FRANKFURT, SYDNEY, TOKYO_V6, NOWHERE = "198.51.100.10", "203.0.113.20", "192.0.2.30", "2001:db8::5", "198.18.0.1"
GEO = {
    "198.51.100.0/24": ("Seattle", "United States", "US", 47.61, -122.33, 64500, "HomeNet ISP"),
    "203.0.113.0/24": ("Frankfurt am Main", "Germany", "DE", 50.11, 8.68, 64501, "Bulletproof VPS"),
    "192.0.2.0/24": ("Sydney", "Australia", "AU", -33.87, 151.21, 64502, "Down Under Telecom"),
    "2001:db8::/32": ("Tokyo", "Japan", "JP", 35.68, 139.69, 64503, "Tokyo Fiber"),
    "100.24.0.0/16": ("Ashburn", "United States", "US", 39.04, -77.49, 14618, "AMAZON-AES"),
}
AWS_EAST, AWS_EAST_2 = "100.24.7.9", "100.24.9.1"  # EC2 addresses (Amazon's ASO)
COLUMNS = ("object_ref", "time_ms", "account_id", "region", "event_id", "event_source", "event_name", "event_type",
           "read_only", "error_code", "source_ip", "user_agent", "identity_type", "principal_type", "principal_id",
           "principal_account", "access_key_id", "role_arn", "session_name", "mfa", "target_role_arn",
           "target_session_arn", "login_result", "bucket", "instance_id", "vpc_endpoint_id", "request_flags",
           "targets")


class Graph:
    def __init__(self, store: GraphStore) -> None:
        self.store = store
        self.n = 0

    def call(self, t: int, *, who: str = ALICE, ip: str = SEATTLE, ua: str = "aws-cli/2.15.0", source: str = "s3.amazonaws.com",
             name: str = "ListBuckets", error: str = "", session: str = "s1", key: str = "AKIAALICE",
             flags: str = "", targets: str = "", endpoint: str = "", target_role: str = "",
             target_session: str = "") -> None:
        self.n += 1
        if ":role/" in who:
            role_name = who.rsplit("/", 1)[1]
            principal_type, principal_id, role = "role_session", f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/{session}", who
        else:
            principal_type, principal_id, role = "aws_user", who, ""
        row: dict[str, Any] = dict.fromkeys(COLUMNS, "")
        row.update(object_ref="test", time_ms=t, account_id=ACCOUNT, region="us-east-1", event_id=f"e{self.n}",
                   event_source=source, event_name=name, event_type="AwsApiCall", read_only=True, error_code=error,
                   source_ip=ip, user_agent=ua, identity_type="IAMUser", principal_type=principal_type,
                   principal_id=principal_id, principal_account=ACCOUNT, access_key_id=key, role_arn=role,
                   session_name=session if role else "", mfa=False, request_flags=flags, targets=targets,
                   instance_id=session if role and session.startswith("i-") else "", vpc_endpoint_id=endpoint,
                   target_role_arn=target_role, target_session_arn=target_session)
        with self.store.cursor() as conn:
            conn.execute(f"INSERT INTO api_events ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                         [row[c] for c in COLUMNS])
            # The partial entity rows a load appends (readers take the min and max of them).
            entities = [("aws_account", ACCOUNT), (principal_type, principal_id)] + ([("aws_role", role)] if role else [])
            for kind, entity_id in entities:
                conn.execute("INSERT INTO entities VALUES (?, ?, ?, ?, ?, 1, hash(?))",
                             [kind, entity_id, ACCOUNT, t, t, entity_id])

    def finding(self, fid: str, t: int, *, kind: str = "UnauthorizedAccess:IAMUser/MaliciousIPCaller", severity: float = 8.0,
                key: str = "", user: str = "", ips: tuple[str, ...] = (), instance: str = "") -> None:
        with self.store.cursor() as conn:
            conn.execute(
                """INSERT INTO findings (object_ref, time_ms, account_id, region, id, arn, type, title, severity,
                   created_ms, updated_ms, first_seen_ms, last_seen_ms, resource_type, instance_id, access_key_id,
                   principal_id, user_name, remote_ips, local_ips, buckets, raw)
                   VALUES ('t', ?, ?, 'us-east-1', ?, ?, ?, '', ?, ?, ?, ?, ?, 'AccessKey', ?, ?, '', ?, ?, [], [], '{}')""",
                [t, ACCOUNT, fid, f"arn:aws:guardduty:us-east-1:{ACCOUNT}:detector/d/finding/{fid}", kind, severity,
                 t, t, t, t, instance, key, user, list(ips)],
            )
