"""The `causalpa` command line (power subcommands)."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from causalpa.cli import main
from causalpa.power import analytic


def test_analytic_t_prints_and_writes_json(tmp_path, capsys) -> None:
    out = tmp_path / "t.json"
    assert main(["power", "analytic", "t", "--d", "0.43", "--power", "0.8",
                 "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "86 + 86 = 172" in text
    data = json.loads(out.read_text())
    assert data["result"] == "AnalyticResult"
    assert data["table"][0]["n"] == analytic.two_sample_t(d=0.43, power=0.8).n


def test_analytic_proportions_csv(tmp_path) -> None:
    out = tmp_path / "p.csv"
    assert main(["power", "analytic", "proportions", "--p1", "0.63", "--p2", "0.36",
                 "--power", "0.8", "--csv", str(out)]) == 0
    row = pd.read_csv(out).iloc[0]
    assert row["n_ceil"] == 53


def test_analytic_design_effect_and_mde(capsys) -> None:
    assert main(["power", "analytic", "design-effect", "--icc", "0.06", "--m", "10",
                 "--n", "86", "--attrition", "0.25"]) == 0
    text = capsys.readouterr().out
    assert "1.5400" in text and str(analytic.inflate(86, design_effect=1.54, attrition=0.25)) in text
    assert main(["power", "analytic", "mde", "--n", "19"]) == 0
    assert "0.93" in capsys.readouterr().out


def test_errors_exit_2_with_message(capsys) -> None:
    assert main(["power", "analytic", "t", "--d", "0.43"]) == 2
    assert "exactly one" in capsys.readouterr().err
    assert main(["power", "simulate", "--effect", "0.5"]) == 2
    assert "--n" in capsys.readouterr().err


def test_simulate_curve_with_config_csv_json_plot(tmp_path, capsys) -> None:
    cfg = tmp_path / "trial.toml"
    cfg.write_text('design = "randomised"\neffect = 0.8\nanalyses = ["ancova", "t-test"]\n'
                   "ns = [20, 40]\nn_sims = 100\nseed = 3\n")
    csv, js, png = tmp_path / "c.csv", tmp_path / "c.json", tmp_path / "c.png"
    rc = main(["power", "simulate", "--config", str(cfg), "--n-sims", "80", "--no-progress",
               "--csv", str(csv), "--json", str(js), "--plot", str(png)])
    assert rc == 0
    frame = pd.read_csv(csv)
    assert sorted(frame["n"].unique()) == [20, 40]
    assert (frame["n_sims"] == 80).all()  # the flag overrides the config file
    data = json.loads(js.read_text())
    assert data["result"] == "PowerCurve" and data["ns"] == [20, 40] and data["seed"] == 3
    assert len(data["table"]) == 4  # two analyses at two sizes
    assert png.stat().st_size > 1000
    assert "ancova" in capsys.readouterr().out


def test_simulate_matches_python_api(tmp_path) -> None:
    from causalpa import power

    csv = tmp_path / "s.csv"
    assert main(["power", "simulate", "--effect", "0.6", "--analyses", "t-test", "--n", "30",
                 "--n-sims", "200", "--seed", "9", "--no-progress", "--csv", str(csv)]) == 0
    direct = power.simulate(power.RandomisedTrial(effect=0.6, analyses=("t-test",)), n=30,
                            n_sims=200, rng=9, progress=False)
    assert pd.read_csv(csv)["power"].iloc[0] == pytest.approx(direct.power)


def test_bad_config_key(tmp_path, capsys) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("n = 10\nsample_size = 3\n")
    assert main(["power", "simulate", "--config", str(cfg)]) == 2
    assert "sample_size" in capsys.readouterr().err


def test_console_entry_point_via_subprocess() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "causalpa.cli", "power", "analytic", "proportions", "--p1",
         "0.63", "--p2", "0.36", "--power", "0.8"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "53 + 53 = 106" in proc.stdout


@pytest.mark.parametrize(
    ("config", "flags", "match"),
    [
        ('n = 40\nn_sims = "many"\n', [], "`n_sims` must be an integer >= 1; got 'many'"),
        ('n = 40\nn_sims = 20\nsmd = "big"\n', [], "`smd` must be a number; got 'big'"),
        ("n = 40.7\nn_sims = 20\n", [], "`n` must be an integer >= 2; got 40.7"),
        ("n_sims = 20\n", ["--ns", "40.5"], "`ns` must be an integer >= 2; got 40.5"),
        ('ns = "40,6x"\nn_sims = 20\n', [], "`ns` must be an integer >= 2; got '6x'"),
        ("n = 40\nattrition = 1.5\n", [], "`attrition`"),
        ('n = 40\ndesign = "crossover"\n', [], "`design` must be one of"),
        ("n = 40\nseed = -1\n", [], "`seed`"),
    ],
)
def test_bad_option_values_exit_2_naming_the_option(tmp_path, capsys, config, flags,
                                                    match) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(config)
    assert main(["power", "simulate", "--config", str(cfg), "--no-progress", *flags]) == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err


def test_whole_number_floats_are_sizes(tmp_path) -> None:
    cfg = tmp_path / "ok.toml"
    cfg.write_text('n = 20.0\nn_sims = 20\nseed = 1\nanalyses = "t-test"\n')
    out = tmp_path / "ok.csv"
    assert main(["power", "simulate", "--config", str(cfg), "--no-progress",
                 "--csv", str(out)]) == 0
    assert pd.read_csv(out)["n"].tolist() == [20]


def test_json_output_is_strict_json(tmp_path) -> None:
    out = tmp_path / "nan.json"
    # the truth of a log odds ratio is unknown (NaN): written as null
    assert main(["power", "simulate", "--effect", "0.5", "--analyses", "logistic",
                 "--outcomes", "recovered", "--n", "20", "--n-sims", "5", "--seed", "1",
                 "--no-progress", "--json", str(out)]) == 0

    def refuse(name: str) -> None:
        raise ValueError(f"not JSON: {name}")

    data = json.loads(out.read_text(), parse_constant=refuse)
    row = data["table"][0]
    assert row["truth"] is None and row["bias"] is None and row["power"] is not None
