"""The pure run (`pytest --pure`, tests/pure_run.py) leaves out what needs torch and fails when torch is
imported anyway, even where the test swallowed the ImportError."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_a_pure_run_leaves_out_torch_tests_and_fails_on_a_torch_import(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    pytester.makeconftest("""
        import pytest

        @pytest.fixture
        def tiny_model():
            import torch
    """)
    pytester.makepyfile(
        test_engine="""
            import pytest
            import torch

            pytestmark = pytest.mark.torch

            def test_engine():
                pass
        """,
        test_mixed="""
            import pytest

            def test_plain():
                pass

            def test_on_the_tiny_model(tiny_model):
                pass

            @pytest.mark.torch
            def test_marked():
                import torch

            def test_sneaky():
                try:
                    import torch.nn
                except ImportError:
                    pass
        """,
    )
    result = pytester.runpytest_subprocess("-p", "tests.pure_run", "--pure")
    result.assert_outcomes(passed=2, deselected=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stderr.fnmatch_lines(
        ["the pure run must not import torch, yet it was asked for:", "  torch by *::test_sneaky"]
    )
    assert "test_engine" not in result.stdout.str() + result.stderr.str()
