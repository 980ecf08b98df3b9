"""The memory a server may use: the tightest cgroup limit on its path (v1 or v2), else the machine's."""
from ganviz.hostmem import charge_mb, limit_mb, rss_mb


def test_the_tightest_cgroup_limit_on_the_path_counts(tmp_path):
    v2 = tmp_path / "v2"
    (v2 / "outer" / "inner").mkdir(parents=True)
    (v2 / "outer" / "memory.max").write_text(str(700 * 2**20))
    (v2 / "outer" / "inner" / "memory.max").write_text("max")
    assert limit_mb(v2, "0::/outer/inner\n") == 700
    v1 = tmp_path / "v1"
    (v1 / "memory" / "box").mkdir(parents=True)
    (v1 / "memory" / "memory.limit_in_bytes").write_text(str(2**63 - 4096))  # the root: no limit
    (v1 / "memory" / "box" / "memory.limit_in_bytes").write_text(str(1000 * 2**20))
    assert limit_mb(v1, "5:cpu:/other\n4:memory:/box\n0::/\n") == 1000


def test_without_a_limit_the_machine_counts(tmp_path):
    assert limit_mb(tmp_path, "4:memory:/nowhere\n") == limit_mb(tmp_path, "") > 100


def test_a_process_costs_its_anonymous_memory_and_some_code():
    assert 0 < rss_mb("self", "RssAnon") < charge_mb() < rss_mb("self", "RssAnon") + 100
    assert charge_mb(2**22 + 12345) == 0.0  # no such process
