"""CloudTrail events: S3 delivery files, JSON arrays, JSON lines and EventBridge envelopes.

    {"Records": [event, ...]}                       what CloudTrail delivers to S3 (gzip or not)
    [event, ...]                                    an export, or ``aws cloudtrail lookup-events`` output
    event\\nevent\\n...                               JSON lines
    {"detail-type": "AWS API Call via CloudTrail",  EventBridge, alone, in arrays or in lines
     "detail": event, ...}

Each event becomes an ``ApiEvent``: who (the principal entity the call is attributed to),
from where (source IP or AWS service, user agent), what (service and API, error code) and
the links Detective draws from it: role sessions to the role they belong to and the
principal that assumed them, instance credentials to the instance, S3 calls to the bucket.

Decoding is msgspec into typed Structs that name only the fields used (unknown fields are
skipped without being built). An event whose fields have unexpected types takes a tolerant
path through plain dicts; one that is not an event at all is a reject.

Principals (``principal_type`` / ``principal_id``):

    IAMUser                   aws_user        arn:aws:iam::111122223333:user/alice
    Root                      aws_user        arn:aws:iam::111122223333:root
    AssumedRole               role_session    arn:aws:sts::111122223333:assumed-role/Role/session
                              (role_arn: the session issuer, arn:aws:iam::...:role/Role)
    FederatedUser             federated_user  arn:aws:sts::111122223333:federated-user/bob
    SAMLUser, WebIdentityUser federated_user  <type>:<principalId or userName>
    IdentityCenterUser        federated_user  IdentityCenterUser:<onBehalfOf.userId or principalId>
    AWSAccount                aws_account     the calling account id
    AWSService                ""              (a service acting; the event still counts for volume)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import msgspec

from gumshoe.formats import base
from gumshoe.formats.base import Batch, Reject
from gumshoe.formats.sql import HOUR_MS, is_ip

KIND = "cloudtrail"
PACKAGE = base.DETECTIVE_CORE

EVENTBRIDGE_DETAIL_TYPE = "AWS API Call via CloudTrail"


class ApiEvent(msgspec.Struct, gc=False):
    account_id: str  # recipientAccountId: whose trail recorded it
    region: str
    time_ms: int
    size: int
    event_id: str
    event_source: str
    event_name: str
    event_type: str
    read_only: bool
    error_code: str  # "" on success
    source_ip: str  # an IPv4/IPv6 address, or a service name such as ec2.amazonaws.com
    user_agent: str
    identity_type: str  # userIdentity.type as recorded ("" when absent)
    principal_type: str  # entity type of the caller, "" for AWS services
    principal_id: str
    principal_account: str  # userIdentity.accountId (the caller's account)
    access_key_id: str
    role_arn: str  # for role sessions: the role (session issuer)
    session_name: str
    mfa: bool
    target_role_arn: str  # AssumeRole*: the role assumed
    target_session_arn: str  # AssumeRole*: the session it started; GetFederationToken: the federated user
    login_result: str  # ConsoleLogin: Success / Failure
    bucket: str  # S3 calls: the bucket
    instance_id: str  # instance credentials (session named i-...), or the instance an EC2 call names
    vpc_endpoint_id: str
    # Comma-separated: "shared" (a snapshot or image shared with an account), "public" (shared
    # with everyone, a bucket opened to all, ingress from any address), "unblocked" (Block
    # Public Access turned off), "user_data" (an instance launched with, or given, user data);
    # "" for every other call.
    request_flags: str = ""
    # What the call acted on, from its request parameters: "kind:value" words separated by
    # spaces ("snapshot:snap-1 account:999988887777"); "" when it names nothing (_targets).
    targets: str = ""


# --- Typed input: only the fields used ------------------------------------------------


class _Issuer(msgspec.Struct):
    type: str | None = None
    arn: str | None = None
    principalId: str | None = None


class _Attributes(msgspec.Struct):
    mfaAuthenticated: str | bool | None = None


class _SessionContext(msgspec.Struct):
    sessionIssuer: _Issuer | None = None
    attributes: _Attributes | None = None


class _OnBehalfOf(msgspec.Struct):
    userId: str | None = None


class _Identity(msgspec.Struct):
    type: str | None = None
    principalId: str | None = None
    arn: str | None = None
    accountId: str | None = None
    accessKeyId: str | None = None
    userName: str | None = None
    invokedBy: str | None = None
    sessionContext: _SessionContext | None = None
    onBehalfOf: _OnBehalfOf | None = None


class _Instance(msgspec.Struct):
    instanceId: str | None = None
    imageId: str | None = None  # RunInstances


class _InstancesSet(msgspec.Struct):
    items: list[_Instance] | None = None


class _Request(msgspec.Struct):
    roleSessionName: str | None = None
    # What makes a few calls sharing or public (request_flags); any shape is accepted, as
    # they vary between services and API versions, and they are rare.
    bucketPolicy: Any = None  # PutBucketPolicy
    AccessControlPolicy: Any = None  # PutBucketAcl
    acl: Any = msgspec.field(default=None, name="x-amz-acl")
    ipPermissions: Any = None  # AuthorizeSecurityGroupIngress
    PublicAccessBlockConfiguration: Any = None  # Put(Bucket|Account)PublicAccessBlock
    userData: Any = None  # RunInstances, ModifyInstanceAttribute: "<sensitiveDataRemoved>" when sent
    attribute: Any = None  # ModifyInstanceAttribute's other form: attribute "userData" with a value
    value: Any = None
    # From here on, what a call acted on (targets), in the order _targets writes them: names and
    # ids, checked for type there, as a few of these names mean other things (or other types)
    # in other services.
    name: Any = None  # a trail (CloudTrail), a parameter (Systems Manager)
    trailName: Any = None
    names: Any = None  # GetParameters
    detectorId: Any = None
    DeleteFlowLogsRequest: Any = None  # {"FlowLogId": {"tag": 1, "content": "fl-..."}} or a list of them
    bucketName: str | None = None
    userName: Any = None
    roleName: Any = None
    roleArn: str | None = None
    groupName: Any = None
    groupId: Any = None
    policyArn: Any = None
    policyName: Any = None
    accessKeyId: Any = None
    snapshotId: Any = None
    imageId: Any = None
    volumeId: Any = None
    dBSnapshotIdentifier: Any = None
    dBClusterSnapshotIdentifier: Any = None
    dBInstanceIdentifier: Any = None
    dBClusterIdentifier: Any = None
    secretId: Any = None
    functionName: Any = None
    logGroupName: Any = None
    keyId: Any = None
    instanceId: str | None = None
    instanceIds: Any = None  # SendCommand
    instancesSet: _InstancesSet | None = None
    createVolumePermission: Any = None  # ModifySnapshotAttribute (also request_flags)
    launchPermission: Any = None  # ModifyImageAttribute (also request_flags)
    valuesToAdd: Any = None  # ModifyDB(Cluster)SnapshotAttribute (also request_flags)


class _AssumedRoleUser(msgspec.Struct):
    arn: str | None = None


class _FederatedUser(msgspec.Struct):
    arn: str | None = None


class _Response(msgspec.Struct):
    assumedRoleUser: _AssumedRoleUser | None = None
    federatedUser: _FederatedUser | None = None
    ConsoleLogin: str | None = None


class _Event(msgspec.Struct):
    eventTime: dt.datetime
    eventName: str
    eventSource: str = ""
    eventID: str | None = None
    eventType: str | None = None
    awsRegion: str | None = None
    recipientAccountId: str | None = None
    sourceIPAddress: str | None = None
    userAgent: str | None = None
    errorCode: str | None = None
    readOnly: bool | str | None = None
    userIdentity: _Identity | None = None
    requestParameters: _Request | None = None
    responseElements: _Response | None = None
    vpcEndpointId: str | None = None


class _Envelope(msgspec.Struct):
    detail: _Event


class _Document(msgspec.Struct):
    Records: list[_Event]


_event = msgspec.json.Decoder(_Event)
_envelope = msgspec.json.Decoder(_Envelope)
_document = msgspec.json.Decoder(_Document)
_raw_list = msgspec.json.Decoder(list[msgspec.Raw])
_records = msgspec.json.Decoder(dict[str, msgspec.Raw])
_lenient = msgspec.json.Decoder()


# --- Detection -------------------------------------------------------------------------


def sniff(head: bytes, name: str) -> bool:
    text = head.lstrip()[:65536]
    if text[:1] not in (b"{", b"["):
        return False
    if b'"eventSource"' in text and (b'"eventName"' in text or b'"eventTime"' in text):
        return True
    if text.startswith(b"{") and text[1:].lstrip().startswith(b'"Records"'):
        # A delivery file; CloudTrail puts Records first. An empty one is still one.
        return True
    return EVENTBRIDGE_DETAIL_TYPE.encode() in text


# --- Reading ---------------------------------------------------------------------------


def read(stream: base.Stream, name: str, limits: base.Limits | None = None) -> Iterator[Batch[ApiEvent]]:
    yield from base.guarded(_read(stream, limits or base.DEFAULT_LIMITS))


def _read(stream: base.Stream, limits: base.Limits) -> Iterator[Batch[ApiEvent]]:
    head, error = base.read_head(stream, 65536)
    text = head.lstrip()
    if not text:
        if error is not None:
            yield Batch(rejects=[Reject("byte 0", base.stream_reason(error))])
        return
    rest = base.Rejoined(head, base.Failing(error) if error is not None else stream)
    is_records = text[:1] == b"{" and text[1:].lstrip().startswith(b'"Records"')
    if is_records or text[:1] == b"[":
        data = base.read_document(rest, limits)
        if isinstance(data, Reject):
            yield Batch(rejects=[data])
        elif isinstance(data, base.Streamed):
            yield from _read_elements(base.split_json(data, keys=("Records",), limits=limits))
        elif is_records:
            yield from _read_records_document(data, limits)
        else:
            yield from _read_array(data, "record", limits)
    else:
        yield from _read_lines(rest, limits)


def _read_records_document(document: bytes, limits: base.Limits) -> Iterator[Batch[ApiEvent]]:
    try:
        events = _document.decode(document).Records
    except msgspec.ValidationError:
        events = None  # some event does not fit the types: go one by one
    except msgspec.DecodeError as exc:
        yield Batch(rejects=[Reject("byte 0", f"not a CloudTrail delivery file: {exc}", base.raw_excerpt(document))])
        return
    except RecursionError:  # an event nested too deeply for one decode: split, event by event
        yield from _split(document, limits)
        return
    if events is not None:
        # Decoded in one pass: each event's share of the file is its size (the volume
        # figures are per account and day, and one file holds one account's events).
        size = len(document) // max(1, len(events))
        limit = base.BATCH_RECORDS
        batch: Batch[ApiEvent] = Batch()
        for index, event in enumerate(events, 1):
            try:
                batch.records.append(_normalize(event, size))
            except _NotAnEvent as exc:
                batch.rejects.append(Reject(f"record {index}", str(exc)))
            except Exception as exc:  # whatever it is, one record's
                batch.rejects.append(Reject(f"record {index}", base.unreadable(exc)))
            if len(batch.records) + len(batch.rejects) >= limit:
                yield batch
                batch = Batch()
        if batch.records or batch.rejects:
            yield batch
        return
    try:
        top = _records.decode(document)
    except msgspec.DecodeError as exc:
        yield Batch(rejects=[Reject("byte 0", f"not a CloudTrail delivery file: {exc}", base.raw_excerpt(document))])
        return
    except RecursionError:
        yield from _split(document, limits)
        return
    records = top.get("Records")
    if records is None:
        yield Batch(rejects=[Reject("byte 0", "a CloudTrail delivery file needs a Records list", base.raw_excerpt(document))])
        return
    yield from _read_array(bytes(records), "record", limits)


def _read_array(document: bytes, unit: str, limits: base.Limits) -> Iterator[Batch[ApiEvent]]:
    try:
        items = _raw_list.decode(document)
    except msgspec.DecodeError as exc:
        yield Batch(rejects=[Reject("byte 0", f"not a JSON array of CloudTrail events: {exc}", base.raw_excerpt(document))])
        return
    except RecursionError:
        if unit == "record":  # a whole document: split, event by event
            yield from _split(document, limits)
        else:  # a line: one reject
            where = unit.removesuffix(" record")
            yield Batch(rejects=[Reject(where, base.unreadable(RecursionError()), base.raw_excerpt(document))])
        return
    batch: Batch[ApiEvent] = Batch()
    limit = base.BATCH_RECORDS
    for index, raw in enumerate(items, 1):
        _add(batch, bytes(raw), f"{unit} {index}")
        if len(batch.records) + len(batch.rejects) >= limit:
            yield batch
            batch = Batch()
    if batch.records or batch.rejects:
        yield batch


def _split(document: bytes, limits: base.Limits) -> Iterator[Batch[ApiEvent]]:
    """The events of a document already read but nested too deeply to decode whole."""
    return _read_elements(base.split_json(base.Streamed([document], None), keys=("Records",), limits=limits))


def _read_elements(elements: Iterator[base.Element]) -> Iterator[Batch[ApiEvent]]:
    """The events of a document split element by element (a large one, or one nested too
    deeply to decode whole): each event at "record N"."""
    batch: Batch[ApiEvent] = Batch()
    limit = base.BATCH_RECORDS
    for element in elements:
        if element.ends:
            batch.rejects.append(Reject(f"byte {element.offset}", element.error, element.raw))
        elif element.index == 0:  # a top-level value that is no Records document or array
            reason = element.error or "a CloudTrail delivery file needs a Records list"
            batch.rejects.append(Reject(f"byte {element.offset}", reason, base.raw_excerpt(element.raw)))
        elif element.error:
            batch.rejects.append(Reject(f"record {element.index}", element.error, element.raw))
        else:
            _add(batch, element.raw, f"record {element.index}")
        if len(batch.records) + len(batch.rejects) >= limit:
            yield batch
            batch = Batch()
    if batch.records or batch.rejects:
        yield batch


def _read_lines(stream: Any, limits: base.Limits) -> Iterator[Batch[ApiEvent]]:
    """JSON lines, streamed: each line an event, an EventBridge envelope or an array of them."""
    batch: Batch[ApiEvent] = Batch()
    for item in base.iter_lines(stream, limits.chunk_bytes, limits.max_record_bytes):
        if isinstance(item, Reject):  # a line too long, or the end of a stream that failed
            batch.rejects.append(item)
        else:
            number, line = item
            line = line.strip()
            if not line:
                continue
            if line[:1] == b"[":
                for inner in _read_array(line, f"line {number} record", limits):
                    batch.records.extend(inner.records)
                    batch.rejects.extend(inner.rejects)
            else:
                _add(batch, line, f"line {number}")
        if len(batch.records) + len(batch.rejects) >= base.BATCH_RECORDS:
            yield batch
            batch = Batch()
    if batch.records or batch.rejects:
        yield batch


def _add(batch: Batch[ApiEvent], raw: bytes, position: str) -> None:
    try:
        batch.records.append(_decode(raw))
    except _NotAnEvent as exc:
        batch.rejects.append(Reject(position, str(exc), base.raw_excerpt(raw)))
    except Exception as exc:  # whatever it is (too deep, ...), one record's
        batch.rejects.append(Reject(position, base.unreadable(exc), base.raw_excerpt(raw)))


class _NotAnEvent(Exception):
    pass


def _decode(raw: bytes) -> ApiEvent:
    is_envelope = b'"detail"' in raw and EVENTBRIDGE_DETAIL_TYPE.encode() in raw
    try:
        event = _envelope.decode(raw).detail if is_envelope else _event.decode(raw)
    except msgspec.ValidationError:
        event = _tolerant(raw, is_envelope)
    except msgspec.DecodeError as exc:
        raise _NotAnEvent(f"malformed JSON: {exc}") from None
    return _normalize(event, len(raw))


_FIELD_TYPES = {f.name: f.type for f in msgspec.structs.fields(_Event)}


def _tolerant(raw: bytes, is_envelope: bool) -> _Event:
    """An event whose optional parts have unexpected types: keep the parts that fit."""
    try:
        value = _lenient.decode(raw)
    except msgspec.DecodeError as exc:
        raise _NotAnEvent(f"malformed JSON: {exc}") from None
    if is_envelope and isinstance(value, dict):
        value = value.get("detail")
    if not isinstance(value, dict):
        raise _NotAnEvent("not a CloudTrail event: expected a JSON object")
    kept: dict[str, Any] = {}
    for name, typ in _FIELD_TYPES.items():
        if name not in value:
            continue
        try:
            kept[name] = msgspec.convert(value[name], typ)
        except msgspec.ValidationError:
            if name in ("eventTime", "eventName"):
                raise _NotAnEvent(f"not a CloudTrail event: {name} is not valid") from None
    for name in ("eventTime", "eventName"):
        if name not in kept:
            raise _NotAnEvent(f"not a CloudTrail event: {name} is missing")
    return msgspec.convert(kept, _Event)


def _ms(moment: dt.datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)


def _principal(identity: _Identity | None, account: str) -> tuple[str, str, str, str, str]:
    """(principal_type, principal_id, role_arn, session_name, instance_id)."""
    if identity is None:
        return "", "", "", "", ""
    kind = identity.type or ""
    arn = identity.arn or ""
    if kind == "IAMUser":
        if not arn and identity.userName:
            arn = f"arn:aws:iam::{identity.accountId or account}:user/{identity.userName}"
        return "aws_user", arn, "", "", ""
    if kind == "Root":
        return "aws_user", arn or f"arn:aws:iam::{identity.accountId or account}:root", "", "", ""
    if kind == "AssumedRole":
        issuer = identity.sessionContext.sessionIssuer if identity.sessionContext else None
        role = issuer.arn if issuer is not None and issuer.arn else ""
        session = arn.rsplit("/", 1)[1] if arn.count("/") >= 2 else ""
        instance = session if session.startswith("i-") else ""
        return "role_session", arn, role, session, instance
    if kind == "FederatedUser":
        return "federated_user", arn, "", "", ""
    if kind in ("SAMLUser", "WebIdentityUser"):
        who = identity.principalId or identity.userName or ""
        return ("federated_user", f"{kind}:{who}", "", "", "") if who else ("", "", "", "", "")
    if kind == "IdentityCenterUser":
        who = (identity.onBehalfOf.userId if identity.onBehalfOf else None) or identity.principalId or ""
        return ("federated_user", f"{kind}:{who}", "", "", "") if who else ("", "", "", "", "")
    if kind == "AWSAccount":
        return "aws_account", identity.accountId or identity.principalId or "", "", "", ""
    return "", "", "", "", ""


def _normalize(event: _Event, size: int) -> ApiEvent:
    identity = event.userIdentity
    account = event.recipientAccountId or (identity.accountId if identity and identity.accountId else "") or ""
    if not account:
        raise _NotAnEvent("no account: neither recipientAccountId nor userIdentity.accountId")
    principal_type, principal_id, role_arn, session, instance = _principal(identity, account)
    request = event.requestParameters
    response = event.responseElements
    target_role = target_session = bucket = ""
    if request is not None:
        bucket = request.bucketName or ""
        if event.eventName.startswith("AssumeRole"):
            target_role = request.roleArn or ""
        if not instance:
            if request.instanceId and request.instanceId.startswith("i-"):
                instance = request.instanceId
            elif request.instancesSet is not None and request.instancesSet.items:
                first = request.instancesSet.items[0].instanceId
                instance = first or ""
    flags = _request_flags(request) if request is not None else ""
    targets = _targets(request, event.eventName) if request is not None else ""
    login = ""
    if response is not None:
        if response.assumedRoleUser is not None:
            target_session = response.assumedRoleUser.arn or ""
        elif response.federatedUser is not None:
            target_session = response.federatedUser.arn or ""
        login = response.ConsoleLogin or ""
    mfa = False
    if identity is not None and identity.sessionContext and identity.sessionContext.attributes:
        flag = identity.sessionContext.attributes.mfaAuthenticated
        mfa = flag is True or flag == "true"
    read_only = event.readOnly is True or event.readOnly == "true"
    return ApiEvent(
        account_id=account,
        region=event.awsRegion or "",
        time_ms=_ms(event.eventTime),
        size=size,
        event_id=event.eventID or "",
        event_source=event.eventSource,
        event_name=event.eventName,
        event_type=event.eventType or "",
        read_only=read_only,
        error_code=event.errorCode or "",
        source_ip=event.sourceIPAddress or "",
        user_agent=event.userAgent or "",
        identity_type=identity.type or "" if identity is not None else "",
        principal_type=principal_type,
        principal_id=principal_id,
        principal_account=(identity.accountId or "") if identity is not None else "",
        access_key_id=(identity.accessKeyId or "") if identity is not None else "",
        role_arn=role_arn,
        session_name=session,
        mfa=mfa,
        target_role_arn=target_role,
        target_session_arn=target_session,
        login_result=login,
        bucket=bucket,
        instance_id=instance,
        vpc_endpoint_id=event.vpcEndpointId or "",
        request_flags=flags,
        targets=targets,
    )


_PUBLIC_GRANTEES = ("http://acs.amazonaws.com/groups/global/AllUsers",
                    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers")
_PUBLIC_ACLS = frozenset({"public-read", "public-read-write", "authenticated-read"})
_ANY_ADDRESS = ("0.0.0.0/0", "::/0")


def _values(node: Any) -> Iterator[Any]:
    """Every scalar in a decoded JSON value, depth first."""
    if isinstance(node, dict):
        for value in node.values():
            yield from _values(value)
    elif isinstance(node, list):
        for value in node:
            yield from _values(value)
    else:
        yield node


def _added(permission: Any) -> tuple[bool, bool]:
    """(shared with an account, shared with everyone) of a createVolumePermission or
    launchPermission change: {"add": {"items": [{"userId": ...} | {"group": "all"}]}}."""
    add = permission.get("add") if isinstance(permission, dict) else None
    items = add.get("items") if isinstance(add, dict) else None
    if not isinstance(items, list):
        return False, False
    shared = any(isinstance(i, dict) and (i.get("userId") or i.get("organizationArn") or i.get("organizationalUnitArn"))
                 for i in items)
    public = any(isinstance(i, dict) and i.get("group") == "all" for i in items)
    return shared, public


def _policy_is_public(policy: Any) -> bool:
    statements = policy.get("Statement") if isinstance(policy, dict) else None
    if isinstance(statements, dict):
        statements = [statements]
    for statement in statements if isinstance(statements, list) else ():
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal")
        if principal == "*" or (isinstance(principal, dict) and "*" in _values(principal)):
            return True
    return False


def _given(value: Any) -> bool:
    """Whether a request parameter carries something: CloudTrail writes user data as
    "<sensitiveDataRemoved>" (or {"value": "<sensitiveDataRemoved>"}), never the script."""
    if isinstance(value, dict):
        return any(_given(v) for v in value.values())
    return value is not None and value != "" and value != []


def _request_flags(request: _Request) -> str:
    flags: set[str] = set()
    for permission in (request.createVolumePermission, request.launchPermission):
        if permission is not None:
            shared, public = _added(permission)
            flags.update(name for name, on in (("shared", shared), ("public", public)) if on)
    if isinstance(request.valuesToAdd, list) and request.valuesToAdd:
        flags.add("public" if "all" in request.valuesToAdd else "shared")
    if request.bucketPolicy is not None and _policy_is_public(request.bucketPolicy):
        flags.add("public")
    if request.AccessControlPolicy is not None and any(
            isinstance(v, str) and v in _PUBLIC_GRANTEES for v in _values(request.AccessControlPolicy)):
        flags.add("public")
    if request.acl is not None and any(v in _PUBLIC_ACLS for v in _values(request.acl)):
        flags.add("public")
    if request.ipPermissions is not None and any(v in _ANY_ADDRESS for v in _values(request.ipPermissions)):
        flags.add("public")
    block = request.PublicAccessBlockConfiguration
    if isinstance(block, dict) and any(v is False or v == "false" for v in block.values()):
        flags.add("unblocked")
    if _given(request.userData) or (request.attribute == "userData" and _given(request.value)):
        flags.add("user_data")
    return ",".join(sorted(flags))


# What _targets keeps of one call: a few words, each short (a request can name thousands).
MAX_TARGETS = 10
MAX_TARGET_CHARS = 256
_TRAIL_CALLS = frozenset({"StopLogging", "StartLogging", "DeleteTrail", "UpdateTrail", "CreateTrail",
                          "GetTrailStatus", "GetTrail"})


# _targets reads the request's fields from _FIRST_TARGET on, the most common first, and stops
# when it has seen every field the call has: most calls name one thing, or nothing.
_FIELD_NAMES = tuple(f.name for f in msgspec.structs.fields(_Request))
_FIRST_TARGET = _FIELD_NAMES.index("name")
_KINDS = {
    "name": "@name", "trailName": "trail", "names": "parameter", "detectorId": "detector",
    "DeleteFlowLogsRequest": "@flow-logs", "bucketName": "bucket", "userName": "user", "roleName": "role",
    "roleArn": "role", "groupName": "@group", "groupId": "@security-group", "policyArn": "policy",
    "policyName": "policy", "accessKeyId": "access-key", "snapshotId": "snapshot", "imageId": "image",
    "volumeId": "volume", "dBSnapshotIdentifier": "db-snapshot", "dBClusterSnapshotIdentifier": "db-cluster-snapshot",
    "dBInstanceIdentifier": "db-instance", "dBClusterIdentifier": "db-cluster", "secretId": "secret",
    "functionName": "function", "logGroupName": "log-group", "keyId": "key", "instanceId": "instance",
    "instanceIds": "instance", "instancesSet": "@instances", "createVolumePermission": "@shared",
    "launchPermission": "@shared", "valuesToAdd": "account",
}
_COMMON_FIRST = ("bucketName", "keyId", "name", "roleArn", "instanceId", "instancesSet", "userName", "roleName",
                 "secretId", "policyArn", "groupId", "functionName", "logGroupName")
# (position among the target fields, the rank of its words, its kind), the common fields first
_SCAN = tuple(sorted(
    ((_FIELD_NAMES.index(name) - _FIRST_TARGET, _FIELD_NAMES.index(name), kind) for name, kind in _KINDS.items()),
    key=lambda slot: (_COMMON_FIRST.index(_FIELD_NAMES[slot[1]]) if _FIELD_NAMES[slot[1]] in _COMMON_FIRST
                      else len(_COMMON_FIRST), slot[1])))
assert {_FIELD_NAMES[rank] for _, rank, _ in _SCAN} == set(_FIELD_NAMES[_FIRST_TARGET:])


def _targets(request: _Request, event_name: str) -> str:
    """What a call acted on, as "kind:value" words: the resources it names (trail, flow log,
    detector, bucket, role, policy, instance, secret ...), the user an access key or login
    profile is for, and the accounts a snapshot or image is shared with."""
    values = msgspec.structs.astuple(request)[_FIRST_TARGET:]
    remaining = len(values) - values.count(None)
    if not remaining:
        return ""
    found: list[tuple[int, str]] = []
    for position, rank, kind in _SCAN:
        value = values[position]
        if value is None:
            continue
        if kind[0] != "@":
            for one in value if value.__class__ is list else (value,):
                _add_target(found, rank, kind, one)
        else:
            _special_targets(found, rank, kind, value, event_name)
        remaining -= 1
        if not remaining:
            break
    if len(found) == 1:
        return found[0][1]
    found.sort(key=lambda pair: pair[0])  # stable: a field's words keep their order
    words: list[str] = []
    for _, word in found:
        if word not in words:
            words.append(word)
    return " ".join(words[:MAX_TARGETS])


def _special_targets(found: list[tuple[int, str]], rank: int, kind: str, value: Any, event_name: str) -> None:
    """The targets of the few fields that need more than a name or a list of names."""
    if kind == "@name":
        if event_name in _TRAIL_CALLS:
            _add_target(found, rank, "trail", value)
        elif "Parameter" in event_name:
            _add_target(found, rank, "parameter", value)
    elif kind == "@flow-logs":
        for one in _values(value):
            if isinstance(one, str) and one.startswith("fl-"):
                _add_target(found, rank, "flow-log", one)
    elif kind == "@group":
        _add_target(found, rank, "security-group" if "SecurityGroup" in event_name else "group", value)
    elif kind == "@security-group":
        if isinstance(value, str) and value.startswith("sg-"):
            _add_target(found, rank, "security-group", value)
    elif kind == "@instances":
        for item in value.items or ():
            _add_target(found, rank, "instance", item.instanceId)
            _add_target(found, rank, "image", item.imageId)
    else:  # @shared: whom a snapshot or image is shared with (an account, "all" is everyone)
        added = value.get("add") if isinstance(value, dict) else None
        items = added.get("items") if isinstance(added, dict) else None
        for item in items if isinstance(items, list) else ():
            if isinstance(item, dict):
                _add_target(found, rank, "account", item.get("userId") or item.get("group"))
                _add_target(found, rank, "organization", item.get("organizationArn") or item.get("organizationalUnitArn"))


def _add_target(found: list[tuple[int, str]], rank: int, kind: str, value: Any) -> None:
    if value.__class__ is str and value and len(found) < 4 * MAX_TARGETS:
        words = value.split()
        found.append((rank, f"{kind}:{(words[0] if len(words) == 1 else '_'.join(words))[:MAX_TARGET_CHARS]}"))


# --- In the behavior graph (graph/store.py builds its tables from these) ---------------

# The raw table of these records and its columns (attribute names of the record type); the
# graph store adds object_ref, the object a row came from.
RAW_TABLE = "api_events"
RAW_DDL = """
CREATE TABLE IF NOT EXISTS api_events (
    object_ref VARCHAR, time_ms BIGINT, account_id VARCHAR, region VARCHAR, event_id VARCHAR,
    event_source VARCHAR, event_name VARCHAR, event_type VARCHAR, read_only BOOLEAN, error_code VARCHAR,
    source_ip VARCHAR, user_agent VARCHAR, identity_type VARCHAR, principal_type VARCHAR, principal_id VARCHAR,
    principal_account VARCHAR, access_key_id VARCHAR, role_arn VARCHAR, session_name VARCHAR, mfa BOOLEAN,
    target_role_arn VARCHAR, target_session_arn VARCHAR, login_result VARCHAR, bucket VARCHAR,
    instance_id VARCHAR, vpc_endpoint_id VARCHAR, request_flags VARCHAR, targets VARCHAR
);
-- Graphs made before request_flags, then targets, existed.
ALTER TABLE api_events ADD COLUMN IF NOT EXISTS request_flags VARCHAR DEFAULT '';
ALTER TABLE api_events ADD COLUMN IF NOT EXISTS targets VARCHAR DEFAULT '';
"""
RAW_COLUMNS = ("time_ms", "account_id", "region", "event_id", "event_source", "event_name", "event_type", "read_only",
        "error_code", "source_ip", "user_agent", "identity_type", "principal_type", "principal_id",
        "principal_account", "access_key_id", "role_arn", "session_name", "mfa", "target_role_arn",
        "target_session_arn", "login_result", "bucket", "instance_id", "vpc_endpoint_id", "request_flags", "targets",
)
# CloudTrail may deliver an event more than once, and trails are often copied to a second
# folder: an event whose eventID is already in the graph for its account and Region (or
# twice in one load) is kept once; events without an eventID are all kept.
DEDUP_KEY = ("account_id", "region", "event_id")
# The entities, links and hourly panel rows of one batch of these records (the view
# ``batch``), aggregated per batch: the store adds their integer keys and sums them later.
DERIVED = [
    # entities
    f"""INSERT INTO entities
    SELECT t, i, min(a), min(time_ms), max(time_ms), count(*) FROM (
        SELECT principal_type AS t, principal_id AS i, COALESCE(NULLIF(principal_account, ''), account_id) AS a, time_ms
            FROM batch WHERE principal_type <> '' AND principal_id <> ''
        UNION ALL SELECT 'aws_account', account_id, account_id, time_ms FROM batch
        UNION ALL SELECT 'aws_account', principal_account, principal_account, time_ms FROM batch
            WHERE principal_account <> '' AND principal_account <> account_id
        UNION ALL SELECT 'aws_role', role_arn, COALESCE(NULLIF(principal_account, ''), account_id), time_ms FROM batch WHERE role_arn <> ''
        UNION ALL SELECT 'aws_role', target_role_arn, account_id, time_ms FROM batch WHERE target_role_arn <> ''
        UNION ALL SELECT 'role_session', target_session_arn, account_id, time_ms FROM batch
            WHERE target_session_arn LIKE 'arn:%:assumed-role/%' AND error_code = ''
        UNION ALL SELECT 'federated_user', target_session_arn, account_id, time_ms FROM batch
            WHERE target_session_arn LIKE 'arn:%:federated-user/%' AND error_code = ''
        UNION ALL SELECT 'ip_address', source_ip, account_id, time_ms FROM batch WHERE {is_ip('source_ip')}
        UNION ALL SELECT 'user_agent', user_agent, account_id, time_ms FROM batch WHERE user_agent <> ''
        UNION ALL SELECT 's3_bucket', bucket, account_id, time_ms FROM batch WHERE bucket <> ''
        UNION ALL SELECT 'ec2_instance', instance_id, account_id, time_ms FROM batch WHERE instance_id <> ''
    ) GROUP BY t, i""",
    # links
    f"""INSERT INTO links
    SELECT st, si, k, dt, di, time_ms // {HOUR_MS}, count(*), 0, min(time_ms), max(time_ms) FROM (
        SELECT principal_type AS st, principal_id AS si, 'connected_from' AS k, 'ip_address' AS dt, source_ip AS di, time_ms
            FROM batch WHERE principal_id <> '' AND {is_ip('source_ip')}
        UNION ALL SELECT principal_type, principal_id, 'used_user_agent', 'user_agent', user_agent, time_ms
            FROM batch WHERE principal_id <> '' AND user_agent <> ''
        UNION ALL SELECT 'role_session', principal_id, 'session_of', 'aws_role', role_arn, time_ms
            FROM batch WHERE principal_type = 'role_session' AND role_arn <> ''
        UNION ALL SELECT principal_type, principal_id, 'assumed', 'role_session', target_session_arn, time_ms
            FROM batch WHERE principal_id <> '' AND target_session_arn LIKE 'arn:%:assumed-role/%' AND error_code = ''
        UNION ALL SELECT 'role_session', target_session_arn, 'session_of', 'aws_role', target_role_arn, time_ms
            FROM batch WHERE target_session_arn LIKE 'arn:%:assumed-role/%' AND target_role_arn <> '' AND error_code = ''
        UNION ALL SELECT principal_type, principal_id, 'accessed', 's3_bucket', bucket, time_ms
            FROM batch WHERE principal_id <> '' AND bucket <> ''
        UNION ALL SELECT 'role_session', principal_id, 'credentials_of', 'ec2_instance', instance_id, time_ms
            FROM batch WHERE principal_type = 'role_session' AND instance_id <> '' AND session_name = instance_id
        UNION ALL SELECT principal_type, principal_id, 'belongs_to', 'aws_account',
            COALESCE(NULLIF(principal_account, ''), account_id), time_ms
            FROM batch WHERE principal_type IN ('aws_user', 'aws_role', 'role_session', 'federated_user')
    ) GROUP BY ALL""",
    # hourly profile panels of principals and IP addresses
    f"""INSERT INTO hourly
    SELECT et, ei, time_ms // {HOUR_MS}, d, v, count(*) FILTER (WHERE error_code = ''),
           count(*) FILTER (WHERE error_code <> ''), 0 FROM (
        SELECT principal_type AS et, principal_id AS ei, 'api' AS d, event_source || ':' || event_name AS v, time_ms, error_code
            FROM batch WHERE principal_id <> ''
        UNION ALL SELECT principal_type, principal_id, 'ip_address', source_ip, time_ms, error_code
            FROM batch WHERE principal_id <> '' AND source_ip <> ''
        UNION ALL SELECT principal_type, principal_id, 'user_agent', user_agent, time_ms, error_code
            FROM batch WHERE principal_id <> '' AND user_agent <> ''
        UNION ALL SELECT principal_type, principal_id, 'console_login', login_result, time_ms, error_code
            FROM batch WHERE principal_id <> '' AND login_result <> ''
        UNION ALL SELECT 'ip_address', source_ip, 'api', event_source || ':' || event_name, time_ms, error_code
            FROM batch WHERE {is_ip('source_ip')}
        UNION ALL SELECT 'ip_address', source_ip, 'principal', principal_id, time_ms, error_code
            FROM batch WHERE principal_id <> '' AND {is_ip('source_ip')}
        UNION ALL SELECT 'aws_account', account_id, 'api', event_source || ':' || event_name, time_ms, error_code FROM batch
    ) GROUP BY ALL""",
    # A role's panels: its sessions' rows summed under the role, so that a role's profile reads
    # its own rows, not the rows of tens of thousands of instance sessions.
    f"""INSERT INTO hourly
    WITH sessions AS (SELECT * FROM batch WHERE principal_type = 'role_session' AND role_arn <> '' AND principal_id <> '')
    SELECT 'aws_role', role_arn, time_ms // {HOUR_MS}, d, v, count(*) FILTER (WHERE error_code = ''),
           count(*) FILTER (WHERE error_code <> ''), 0 FROM (
        SELECT role_arn, 'api' AS d, event_source || ':' || event_name AS v, time_ms, error_code FROM sessions
        UNION ALL SELECT role_arn, 'ip_address', source_ip, time_ms, error_code FROM sessions WHERE source_ip <> ''
        UNION ALL SELECT role_arn, 'user_agent', user_agent, time_ms, error_code FROM sessions WHERE user_agent <> ''
        UNION ALL SELECT role_arn, 'console_login', login_result, time_ms, error_code FROM sessions
            WHERE login_result <> ''
    ) GROUP BY ALL""",
    # The summary's rollups, by hour: calls of principals (a session's under its role) and of
    # source addresses.
    f"""INSERT INTO by_hour
    SELECT time_ms // {HOUR_MS}, p, t, i, count(*) FILTER (WHERE error_code = ''),
           count(*) FILTER (WHERE error_code <> ''), 0 FROM (
        SELECT 'calls' AS p,
               CASE WHEN principal_type = 'role_session' AND role_arn <> '' THEN 'aws_role' ELSE principal_type END AS t,
               CASE WHEN principal_type = 'role_session' AND role_arn <> '' THEN role_arn ELSE principal_id END AS i,
               time_ms, error_code
            FROM batch WHERE principal_type IN ('aws_user', 'role_session', 'federated_user') AND principal_id <> ''
        UNION ALL SELECT 'calls', 'ip_address', source_ip, time_ms, error_code FROM batch WHERE {is_ip('source_ip')}
    ) GROUP BY ALL""",
]
# Added at the graph store's derived version 2 (graph/store.py makes them for older graphs).
DERIVED_ADDED = {2: DERIVED[-2:]}
