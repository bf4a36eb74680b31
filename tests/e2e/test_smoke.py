"""The smallest end-to-end path: a server starts, answers health and a boto3 call."""

import json
import urllib.request


def test_health_and_create_graph(server):
    with urllib.request.urlopen(server.url + "/_gumshoe/health") as r:
        body = json.load(r)
    assert r.status == 200 and body["status"] == "ok"
    client = server.client("111111111111")
    arn = client.create_graph()["GraphArn"]
    assert arn.startswith("arn:aws:detective:us-east-1:111111111111:graph:")
    assert [g["Arn"] for g in client.list_graphs()["GraphList"]] == [arn]
