#!/usr/bin/env python3
"""Idempotent bootstrap of the AWS emulator (moto server) for Tessera.

Ensures a Cognito user pool named `tessera` and an app client `tessera-app` (no secret;
USER_PASSWORD_AUTH, REFRESH_TOKEN_AUTH, ADMIN_USER_PASSWORD_AUTH) exist, then prints the ids
and, with --env-file, writes them into that file as COGNITO_USER_POOL_ID=... and
COGNITO_CLIENT_ID=... (only those keys are rewritten; other lines are kept).

Used by scripts/services.sh (against http://127.0.0.1:4566, writing .env.local) and by the
one-shot `aws-bootstrap` service of docker-compose.yml (against http://moto:4566).

With moto's MOTO_COGNITO_IDP_USER_POOL_ID_STRATEGY=HASH and ..._CLIENT_ID_STRATEGY=HASH the ids
are a hash of the create requests below, so they are the same on every machine and after every
moto restart -- as long as these requests do not change. --expect-user-pool-id and
--expect-client-id make the script fail when the ids differ from the ones a caller relies on.

Requires boto3 (a dependency of moto, so it is there wherever moto_server is).
"""
import argparse
import os
import sys
import tempfile

import boto3

POOL_NAME = "tessera"
CLIENT_NAME = "tessera-app"
AUTH_FLOWS = [
    "ALLOW_USER_PASSWORD_AUTH",
    "ALLOW_REFRESH_TOKEN_AUTH",
    "ALLOW_ADMIN_USER_PASSWORD_AUTH",
]


def find_pool(idp):
    for page in idp.get_paginator("list_user_pools").paginate(MaxResults=60):
        for pool in page.get("UserPools", []):
            if pool["Name"] == POOL_NAME:
                return pool["Id"]
    return None


def find_client(idp, pool_id):
    kwargs = {"UserPoolId": pool_id, "MaxResults": 60}
    while True:
        page = idp.list_user_pool_clients(**kwargs)
        for client in page.get("UserPoolClients", []):
            if client["ClientName"] == CLIENT_NAME:
                return client["ClientId"]
        token = page.get("NextToken")
        if not token:
            return None
        kwargs["NextToken"] = token


def ensure(idp):
    pool_id = find_pool(idp)
    if pool_id is None:
        # Keep these arguments stable: with the HASH id strategy they determine the pool id.
        # No UsernameAttributes: usernames are free-form (an e-mail address works as a username).
        pool_id = idp.create_user_pool(
            PoolName=POOL_NAME,
            Policies={
                "PasswordPolicy": {
                    "MinimumLength": 8,
                    "RequireUppercase": False,
                    "RequireLowercase": False,
                    "RequireNumbers": False,
                    "RequireSymbols": False,
                }
            },
        )["UserPool"]["Id"]
        print(f"aws-bootstrap: created user pool {POOL_NAME} ({pool_id})", file=sys.stderr)

    client_id = find_client(idp, pool_id)
    if client_id is None:
        # Keep these arguments stable too (HASH strategy for client ids).
        client_id = idp.create_user_pool_client(
            UserPoolId=pool_id,
            ClientName=CLIENT_NAME,
            GenerateSecret=False,
            ExplicitAuthFlows=AUTH_FLOWS,
        )["UserPoolClient"]["ClientId"]
        print(f"aws-bootstrap: created app client {CLIENT_NAME} ({client_id})", file=sys.stderr)
    else:
        client = idp.describe_user_pool_client(UserPoolId=pool_id, ClientId=client_id)["UserPoolClient"]
        if client.get("ClientSecret"):
            raise SystemExit(f"aws-bootstrap: app client {client_id} has a secret; delete it and run again")
        if sorted(client.get("ExplicitAuthFlows", [])) != sorted(AUTH_FLOWS):
            idp.update_user_pool_client(
                UserPoolId=pool_id, ClientId=client_id, ClientName=CLIENT_NAME, ExplicitAuthFlows=AUTH_FLOWS
            )
            print(f"aws-bootstrap: updated auth flows of {client_id}", file=sys.stderr)
    return pool_id, client_id


def write_env(path, values):
    lines = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    seen = set()
    out = []
    for line in lines:
        key = line.split("=", 1)[0].strip() if "=" in line and not line.lstrip().startswith("#") else None
        if key in values:
            if key not in seen:
                out.append(f"{key}={values[key]}")
                seen.add(key)
            continue  # drop duplicates of a managed key
        out.append(line)
    out.extend(f"{k}={v}" for k, v in values.items() if k not in seen)
    content = "\n".join(out) + "\n"
    if lines and "\n".join(lines) + "\n" == content:
        return False
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".env.", dir=directory)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(content)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return True


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"))
    p.add_argument("--region", default=os.environ.get("AWS_REGION", "us-east-1"))
    p.add_argument("--env-file", help="file to write COGNITO_USER_POOL_ID / COGNITO_CLIENT_ID into")
    p.add_argument("--expect-user-pool-id")
    p.add_argument("--expect-client-id")
    args = p.parse_args()

    idp = boto3.client(
        "cognito-idp",
        endpoint_url=args.endpoint,
        region_name=args.region,
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
    )
    pool_id, client_id = ensure(idp)

    for name, want, got in (
        ("user pool id", args.expect_user_pool_id, pool_id),
        ("client id", args.expect_client_id, client_id),
    ):
        if want and want != got:
            raise SystemExit(
                f"aws-bootstrap: {name} is {got}, expected {want} "
                "(is moto running with the HASH id strategies? did the create requests change?)"
            )

    values = {"COGNITO_USER_POOL_ID": pool_id, "COGNITO_CLIENT_ID": client_id}
    if args.env_file:
        write_env(args.env_file, values)
    for k, v in values.items():
        print(f"{k}={v}")


if __name__ == "__main__":
    main()
