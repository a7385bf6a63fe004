//! Every figure kind a plugin can ask for is drawn as a valid PNG and SVG; a bad spec is an
//! error naming the figure, and leaves no file behind.

use neurozoo_analysis::figures::draw;
use serde_json::json;

#[test]
fn every_kind_draws_png_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    let specs = [
        ("hist", json!({"kind": "histogram", "title": "H", "x_label": "x", "values": [1.0, 2.0, 2.5, 9.0], "bins": 3})),
        (
            "line",
            json!({"kind": "line", "title": "L", "x_label": "x", "y_label": "y", "series": [{"name": "a", "points": [[0, 1], [1, 3]]}, {"name": "b", "points": [[0, 2], [1, 0]]}]}),
        ),
        (
            "scatter",
            json!({"kind": "scatter", "title": "S", "x_label": "x", "y_label": "y", "series": [{"name": "", "points": [[0.5, 1.5]]}]}),
        ),
        ("heat", json!({"kind": "heatmap", "title": "M", "x_label": "unit", "y_label": "unit", "rows": [[1.0, -1.0], [0.0, null]]})),
        (
            "grid",
            json!({"kind": "image_grid", "title": "G", "columns": 2, "images": [{"label": "one", "pixels": [[0, 1], [1, 0]]}, {"label": "two", "pixels": [[5, 5], [5, 5]]}, {"label": "three", "pixels": [[0, 2, 4]]}]}),
        ),
    ];
    for (stem, spec) in specs {
        let [png, svg] = draw(&spec, dir.path(), stem).unwrap_or_else(|e| panic!("{stem}: {e}"));
        let png = std::fs::read(png).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{stem}");
        assert!(png.len() > 1000, "{stem}: suspiciously small PNG");
        let svg = std::fs::read_to_string(svg).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{stem}");
        let title = spec["title"].as_str().unwrap();
        assert!(svg.contains(&format!("\n{title}\n</text>")), "{stem}: title missing from the SVG");
    }
}

#[test]
fn a_bad_spec_is_an_error_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for (spec, expect) in [
        (json!({"kind": "pie"}), "unknown kind \"pie\""),
        (json!({"kind": "heatmap", "rows": [[1.0, 2.0], [3.0]]}), "non-empty rectangle"),
        (json!({"kind": "histogram", "values": [1.0], "bins": 0}), "bins"),
        (json!({"kind": "line", "series": [{"points": [[1.0]]}]}), "[x, y]"),
    ] {
        let err = draw(&spec, dir.path(), "bad").unwrap_err().to_string();
        assert!(err.starts_with("figure bad: ") && err.contains(expect), "{err}");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// Counts the host allocates by (a histogram's bins, a grid's columns) are bounded: a plugin
/// asking for 10¹² bins gets an error naming the spec field, not an abort in the host.
#[test]
fn a_huge_count_is_refused_naming_the_spec_field() {
    let dir = tempfile::tempdir().unwrap();
    let image = json!({"label": "a", "pixels": [[0, 1]]});
    for (spec, expect) in [
        (
            json!({"kind": "histogram", "values": [1.0, 2.0], "bins": 1_000_000_000_000u64}),
            "figure bad: histogram spec field \"bins\" is 1000000000000: it must be a whole number from 1 to 10000",
        ),
        (
            json!({"kind": "histogram", "values": [1.0, 2.0], "bins": 1e12}),
            "figure bad: histogram spec field \"bins\" is 1000000000000.0: it must be a whole number from 1 to 10000",
        ),
        (
            json!({"kind": "image_grid", "images": [image], "columns": 10_001}),
            "figure bad: image_grid spec field \"columns\" is 10001: it must be a whole number from 1 to 10000",
        ),
    ] {
        assert_eq!(draw(&spec, dir.path(), "bad").unwrap_err().to_string(), expect);
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    // The bound itself still draws.
    draw(&json!({"kind": "histogram", "values": [1.0, 2.0], "bins": 10_000}), dir.path(), "most").unwrap();
}
