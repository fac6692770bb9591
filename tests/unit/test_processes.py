"""The experiments' runs in worker processes come back in the jobs' order, as they do in one process."""

from experiments.processes import each_run


def slow_for_the_first(n: int) -> int:
    import time

    time.sleep(0.5 if n == 0 else 0)  # the first job finishes last
    return n * n


def test_runs_come_back_in_the_jobs_order_in_one_process_or_several():
    assert list(each_run(slow_for_the_first, [0, 1, 2, 3], workers=1)) == [0, 1, 4, 9]
    assert list(each_run(slow_for_the_first, [0, 1, 2, 3], workers=2)) == [0, 1, 4, 9]
