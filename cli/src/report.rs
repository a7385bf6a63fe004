//! The demo's report page: one `index.html` beside the results, a section per step with a short
//! paragraph, every figure shown (PNG, linked to its SVG) and every table linked (Parquet and
//! CSV). Paths are relative, so the directory can be moved or served as it is.
//!
//! A small script marks each figure `data-loaded="true"` once the browser has decoded it (or
//! `"false"`), so a headless browser can tell a page that renders from one with broken images.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// One step of the pipeline as the report shows it.
pub struct Section {
    pub title: String,
    /// Paragraphs of plain text (escaped here).
    pub text: Vec<String>,
    /// Files relative to the report's directory: figures (`.png`, with a `.svg` beside) are
    /// shown, everything else is linked.
    pub files: Vec<PathBuf>,
}

/// Every figure and table directly in `dir` (relative to `root`), figures first, each sorted:
/// what a step's output directory holds for the report.
pub fn outputs(root: &Path, dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
        .with_context(|| format!("cannot list {}", root.join(dir).display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| matches!(extension(p), "png" | "parquet" | "csv" | "json"))
        .map(|p| dir.join(p.file_name().expect("a file name")))
        .collect();
    files.sort_by_key(|p| (extension(p) != "png", p.clone()));
    Ok(files)
}

fn extension(p: &Path) -> &str {
    p.extension().and_then(|e| e.to_str()).unwrap_or("")
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn href(p: &Path) -> String {
    escape(&p.to_string_lossy())
}

/// Write `root/index.html` (atomically) and return its path.
pub fn write(root: &Path, title: &str, intro: &str, sections: &[Section]) -> Result<PathBuf> {
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{t}</title>\n<style>\n\
         body {{ font-family: sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; line-height: 1.45; color: #222; }}\n\
         figure {{ display: inline-block; margin: 0.5em; vertical-align: top; }}\n\
         figure img {{ max-width: 520px; border: 1px solid #ddd; }}\n\
         figcaption {{ font-size: 0.85em; }}\n\
         ul.files {{ columns: 2; font-size: 0.9em; }}\n\
         nav a {{ margin-right: 1em; }}\n\
         </style>\n</head>\n<body>\n<h1>{t}</h1>\n<p>{intro}</p>\n<nav>",
        t = escape(title),
        intro = escape(intro)
    );
    for (i, s) in sections.iter().enumerate() {
        let _ = write!(html, "<a href=\"#step{}\">{}. {}</a>", i + 1, i + 1, escape(&s.title));
    }
    html.push_str("</nav>\n");
    for (i, s) in sections.iter().enumerate() {
        let _ = writeln!(html, "<section id=\"step{}\">\n<h2>{}. {}</h2>", i + 1, i + 1, escape(&s.title));
        for p in &s.text {
            let _ = writeln!(html, "<p>{}</p>", escape(p));
        }
        for f in s.files.iter().filter(|f| extension(f) == "png") {
            let svg = f.with_extension("svg");
            let vector = if root.join(&svg).is_file() { format!(" (<a href=\"{}\">SVG</a>)", href(&svg)) } else { String::new() };
            let _ = writeln!(
                html,
                "<figure><a href=\"{src}\"><img src=\"{src}\" alt=\"{src}\"></a><figcaption>{src}{vector}</figcaption></figure>",
                src = href(f)
            );
        }
        let linked: Vec<&PathBuf> = s.files.iter().filter(|f| extension(f) != "png").collect();
        if !linked.is_empty() {
            html.push_str("<ul class=\"files\">\n");
            for f in linked {
                let _ = writeln!(html, "<li><a href=\"{0}\">{0}</a></li>", href(f));
            }
            html.push_str("</ul>\n");
        }
        html.push_str("</section>\n");
    }
    html.push_str(
        "<script>\nfor (const img of document.images) {\n  const mark = () => { img.dataset.loaded = String(img.complete && img.naturalWidth > 0); };\n  \
         if (img.complete) mark(); else { img.addEventListener('load', mark); img.addEventListener('error', mark); }\n}\n</script>\n</body>\n</html>\n",
    );
    let path = root.join("index.html");
    neurozoo_util::files::write_atomic(&path, html).context("cannot write the report")?;
    Ok(path)
}
