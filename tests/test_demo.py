"""`make demo` runs end to end on the embedded pilot cohort and writes the report."""


from causalpa.demo import main, run


def test_demo_reproduces_the_pilot_and_writes_the_report(tmp_path, capsys):
    out = tmp_path / "report.html"
    results = run(out, quick=True)
    summary = results["summary"]
    assert summary.loc["PA", "n"] == 16 and summary.loc["control", "n"] == 22
    assert summary.loc["PA", "recovered"] == 10 and summary.loc["control", "recovered"] == 8
    assert abs(results["fisher_p"] - 0.188) < 0.0005  # DOMAIN.md: Fisher p = 0.188 for 10/16 vs 8/22
    # every corrected effect carries an interval that contains its estimate
    for effect in results["effects"].values():
        assert effect.conf_low <= effect.estimate <= effect.conf_high
    assert results["n_recovery"].n_ceil == 53 and results["n_phq9"].n_ceil == 86
    html = out.read_text()
    for section in ("The cohort", "Who chose physical activity", "corrected for self-selection",
                    "trajectories", "How many patients"):
        assert section in html
    assert html.count("data:image/png;base64,") >= 4
    curve = results["power_curve"].tidy().set_index(["analysis", "n"])["power"]
    assert (curve.loc["ancova"] > curve.loc["t-test"]).all()  # baseline adjustment gains power
    assert "SYNTHETIC" in html
    printed = capsys.readouterr().out
    assert "Recovery 63% vs 36%" in printed and "Fisher" in printed


def test_demo_cli_without_report(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["--no-report", "--quick"]) == 0
    assert not list(tmp_path.iterdir())
    assert "per group" in capsys.readouterr().out
