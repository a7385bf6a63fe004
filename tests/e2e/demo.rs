//! `neurozoo demo --quick`: the whole pipeline at a reduced size. The report page must show every
//! figure and link every table the run wrote, every file it names must exist and be valid, and
//! the page must render in headless Chromium with every figure decoded.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use neurozoo_tables::read_parquet;

use super::*;

/// Every `src="…"` and `href="…"` target of the page except in-page anchors.
fn references(html: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let grab = |attr: &str| -> BTreeSet<String> {
        html.split(&format!("{attr}=\""))
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap().replace("&amp;", "&"))
            .filter(|r| !r.starts_with('#'))
            .collect()
    };
    (grab("src"), grab("href"))
}

/// Files under `dir` (recursively) with this extension, relative to `dir`.
fn files_with(dir: &Path, ext: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == ext) {
                found.insert(p.strip_prefix(dir).unwrap().to_string_lossy().to_string());
            }
        }
    }
    found
}

/// A PNG that decodes to a non-empty image, returning its pixels' (width, height, distinct bytes).
fn decode_png(path: &Path) -> (u32, u32, usize) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap_or_else(|e| panic!("{}: not a PNG ({e})", path.display()));
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap_or_else(|e| panic!("{}: cannot decode ({e})", path.display()));
    let distinct: BTreeSet<u8> = buf[..info.buffer_size()].iter().copied().collect();
    (info.width, info.height, distinct.len())
}

fn check_valid(path: &Path) {
    let name = path.display();
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    match ext {
        "png" => {
            let (w, h, distinct) = decode_png(path);
            assert!(w > 0 && h > 0 && distinct > 2, "{name}: a blank {w}×{h} image");
        }
        "svg" => {
            let text = std::fs::read_to_string(path).unwrap();
            assert!(text.contains("<svg") && text.trim_end().ends_with("</svg>"), "{name}: not a complete SVG");
        }
        "parquet" => assert!(read_parquet(path).unwrap().height() > 0, "{name}: an empty table"),
        "csv" => assert!(std::fs::read_to_string(path).unwrap().lines().count() >= 2, "{name}: no rows"),
        "json" => {
            serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(path).unwrap()).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        "h5" => assert_eq!(&std::fs::read(path).unwrap()[..8], b"\x89HDF\r\n\x1a\n", "{name}: not HDF5"),
        other => panic!("{name}: unexpected file type {other:?} in the report"),
    }
}

/// The Chromium `CHROMIUM` names, or `chromium` on the PATH (what `make test` installs).
fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return PathBuf::from(path);
    }
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("chromium"))
        .find(|p| p.is_file())
        .expect("no chromium on the PATH: `make test` installs Debian's, or set CHROMIUM")
}

/// Headless Chromium with the flags this sandbox needs (no network, root).
fn headless(profile: &Path) -> Command {
    let mut cmd = Command::new(chromium());
    cmd.args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking"])
        .args(["--disable-component-update", "--disable-sync", "--allow-file-access-from-files", "--virtual-time-budget=5000"])
        .arg(format!("--user-data-dir={}", profile.display()));
    cmd
}

#[test]
fn quick_demo_writes_a_report_whose_figures_and_tables_exist_and_render() {
    super::plugins::plugins_built();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let output = run(neurozoo().args(["demo", "--quick", "--out"]).arg(&out).env("OMP_NUM_THREADS", "1"));
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let index = out.join("index.html");
    assert!(stdout.contains(&format!("report: {}", index.display())), "the demo must say where the report is:\n{stdout}");

    let html = std::fs::read_to_string(&index).unwrap();
    assert!(html.matches("<section").count() == 9, "a section per step");
    for missing in ["n/a", "NaN"] {
        assert!(!html.contains(missing), "the report says {missing:?}: a number the demo could not measure");
    }
    let (images, links) = references(&html);
    for r in images.iter().chain(&links) {
        assert!(!r.contains("..") && !r.starts_with('/'), "{r}: the report must use paths inside its directory");
        check_valid(&out.join(r));
    }
    // Every figure and every table the run wrote is on the page.
    let pngs = files_with(&out, "png");
    assert!(pngs.len() >= 15, "only {} figures: {pngs:?}", pngs.len());
    assert_eq!(images, pngs, "figures shown vs written");
    for table in files_with(&out, "parquet").iter().chain(&files_with(&out, "csv")) {
        assert!(links.contains(table), "table {table} is not linked");
    }
    for svg in files_with(&out, "svg") {
        assert!(links.contains(&svg), "figure {svg} has no SVG link");
    }

    // The page renders: Chromium decodes every figure (the page's script marks each) and the
    // screenshot is not blank.
    let profile = dir.path().join("chromium-profile");
    let url = format!("file://{}", index.display());
    let dom = headless(&profile).arg("--dump-dom").arg(&url).output().unwrap();
    assert!(dom.status.success(), "chromium --dump-dom failed: {}", String::from_utf8_lossy(&dom.stderr));
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert_eq!(dom.matches("data-loaded=\"true\"").count(), images.len(), "figures decoded by Chromium:\n{dom}");
    assert!(!dom.contains("data-loaded=\"false\""));
    let shot = dir.path().join("report.png");
    let status =
        headless(&profile).arg(format!("--screenshot={}", shot.display())).arg("--window-size=1200,1600").arg(&url).output().unwrap();
    assert!(status.status.success(), "chromium --screenshot failed: {}", String::from_utf8_lossy(&status.stderr));
    let (w, h, distinct) = decode_png(&shot);
    assert_eq!((w, h), (1200, 1600));
    assert!(distinct > 50, "the screenshot looks blank ({distinct} distinct byte values)");
}
