"""What the console calls things: entity types, profile panels, Detective's own type names."""

from __future__ import annotations

ENTITY_LABELS = {
    "aws_account": "AWS account",
    "aws_user": "AWS user",
    "aws_role": "AWS role",
    "role_session": "Role session",
    "federated_user": "Federated user",
    "ec2_instance": "EC2 instance",
    "ip_address": "IP address",
    "user_agent": "User agent",
    "s3_bucket": "S3 bucket",
    "finding": "Finding",
    "eks_cluster": "EKS cluster",
    "kubernetes_user": "Kubernetes user",
    "access_key": "Access key",
}

# The entity types of Detective's console URLs (#entities/<type>/<id>), as GuardDuty and
# Security Hub write them, and Gumshoe's names for them.
DETECTIVE_TYPES = {
    "awsaccount": "aws_account",
    "awsuser": "aws_user",
    "awsrole": "aws_role",
    "awsrolesession": "role_session",
    "federateduser": "federated_user",
    "ec2instance": "ec2_instance",
    "ipaddress": "ip_address",
    "useragent": "user_agent",
    "s3bucket": "s3_bucket",
    "ekscluster": "eks_cluster",
    "kubernetessubject": "kubernetes_user",
    "kubernetesuser": "kubernetes_user",
    "finding": "finding",
}

PANEL_TITLES = {
    "api": "API calls by service and API",
    "ip_address": "Source IP addresses",
    "user_agent": "User agents",
    "console_login": "Console sign-ins",
    "principal": "Principals that called from this address",
    "flow_peer": "VPC flow peers",
    "flow_port": "VPC flow ports (port/protocol)",
    "kubernetes_api": "Kubernetes API calls",
}
PANEL_COLUMNS = {
    "api": "Service:API",
    "ip_address": "IP address",
    "user_agent": "User agent",
    "console_login": "Result",
    "principal": "Principal",
    "flow_peer": "Peer address",
    "flow_port": "Port/protocol",
    "kubernetes_api": "Verb and resource",
}
PANEL_ORDER = ["api", "ip_address", "user_agent", "console_login", "principal", "kubernetes_api", "flow_peer",
               "flow_port"]

RELATIONSHIP_LABELS = {
    ("connected_from", "out"): "connected from",
    ("connected_from", "in"): "was connected from by",
    ("used_user_agent", "out"): "used user agent",
    ("used_user_agent", "in"): "was used by",
    ("session_of", "out"): "is a session of",
    ("session_of", "in"): "has session",
    ("assumed", "out"): "assumed",
    ("assumed", "in"): "was assumed by",
    ("accessed", "out"): "accessed",
    ("accessed", "in"): "was accessed by",
    ("credentials_of", "out"): "has the credentials of",
    ("credentials_of", "in"): "credentials used by",
    ("belongs_to", "out"): "belongs to",
    ("belongs_to", "in"): "has principal",
    ("flow_accepted", "out"): "sent accepted flows to",
    ("flow_accepted", "in"): "received accepted flows from",
    ("flow_rejected", "out"): "sent rejected flows to",
    ("flow_rejected", "in"): "received rejected flows from",
    ("involves", "out"): "involves",
    ("involves", "in"): "is involved in",
    ("called", "out"): "called",
    ("called", "in"): "was called by",
    ("used_by", "out"): "was used by",
    ("used_by", "in"): "used",
}


def entity_label(entity_type: str) -> str:
    return ENTITY_LABELS.get(entity_type, entity_type)


def relationship_label(kind: str, direction: str) -> str:
    return RELATIONSHIP_LABELS.get((kind, direction), f"{kind} ({direction})")


# IANA protocol numbers (www.iana.org/assignments/protocol-numbers), as VPC flow records carry them.
PROTOCOLS = {
    1: "ICMP", 2: "IGMP", 4: "IPv4", 6: "TCP", 17: "UDP", 41: "IPv6", 47: "GRE", 50: "ESP", 51: "AH",
    58: "ICMPv6", 89: "OSPF", 103: "PIM", 112: "VRRP", 132: "SCTP",
}


def protocol_label(number: int | None) -> str:
    """A protocol number with its name: "6 TCP"; "-" when the record had none (-1)."""
    if number is None or number < 0:
        return "-"
    name = PROTOCOLS.get(number)
    return f"{number} {name}" if name else str(number)
