"""The admin.properties that `up` writes works unchanged with kcat (-F).

Debian 12's kcat links librdkafka 2.0.2, whose SCRAM client-final message
repeats the client nonce; Kafka 4.x checks the nonce strictly (RFC 5802) and
rejects it as invalid credentials (librdkafka#4895, fixed in 2.6.1). So the
test runs Debian's kcat binary on the librdkafka that the confluent-kafka
wheel ships (ABI-compatible, and the version our Python clients use).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import confluent_kafka
import pytest

from streamplane.local import LocalCluster
from tests.integration.conftest import create_topic


@pytest.fixture(scope="session")
def kcat() -> str:
    found = shutil.which("kcat")
    if found is None:
        env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        install = subprocess.run(
            ["apt-get", "install", "-y", "-q", "kcat"], capture_output=True, text=True, env=env
        )
        if install.returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env, check=True)
            subprocess.run(
                ["apt-get", "install", "-y", "-q", "kcat"], capture_output=True, env=env, check=True
            )
        found = shutil.which("kcat")
    assert found, "kcat could not be installed with apt-get"
    return found


@pytest.fixture(scope="session")
def kcat_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment that makes kcat load a librdkafka >= 2.6.1 (see module docstring)."""
    libs = Path(confluent_kafka.__file__).parent.parent / "confluent_kafka.libs"
    bundled = sorted(libs.glob("librdkafka*.so*"))
    assert bundled, f"no librdkafka in {libs}"
    lib_dir = tmp_path_factory.mktemp("librdkafka")
    (lib_dir / "librdkafka.so.1").symlink_to(bundled[0])
    return {"LD_LIBRARY_PATH": str(lib_dir), "PATH": "/usr/bin:/bin"}


def test_kcat_produces_and_consumes_with_admin_properties(
    cluster1: LocalCluster, topic_name: str, kcat: str, kcat_env: dict[str, str]
) -> None:
    version = subprocess.run([kcat, "-V"], env=kcat_env, capture_output=True, text=True)
    assert f"librdkafka {confluent_kafka.libversion()[0]}" in version.stdout
    create_topic(cluster1.admin_settings(), topic_name)
    props = str(cluster1.dir.admin_properties)
    lines = [f"line-{i}" for i in range(10)]
    subprocess.run(
        [kcat, "-F", props, "-P", "-t", topic_name],
        input="\n".join(lines) + "\n",
        text=True, check=True, timeout=60, capture_output=True, env=kcat_env,
    )  # fmt: skip
    out = subprocess.run(
        [kcat, "-F", props, "-C", "-t", topic_name, "-o", "beginning", "-e", "-q"],
        text=True, check=True, timeout=60, capture_output=True, env=kcat_env,
    )  # fmt: skip
    assert out.stdout.split() == lines
    listing = subprocess.run(
        [kcat, "-F", props, "-L", "-J"],
        text=True, check=True, timeout=60, capture_output=True, env=kcat_env,
    )  # fmt: skip
    assert topic_name in listing.stdout
