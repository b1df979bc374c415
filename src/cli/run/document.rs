//! A small document model for the run's report, rendered to Markdown (`report.md`) and to a
//! self-contained HTML page (`report.html`, images embedded as data URIs), so that both say
//! the same thing.
//!
//! Inline text may hold `code` spans between backticks; everything else is plain text
//! (escaped in HTML).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One block of the report.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Heading(String),
    Paragraph(String),
    List(Vec<String>),
    Table {
        header: Vec<String>,
        rows: Vec<Vec<String>>,
    },
    /// Images side by side (a gallery when more than one); paths relative to the output
    /// directory.
    Images(Vec<Image>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    pub path: PathBuf,
    pub caption: String,
}

/// The report: a title and blocks.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Document {
    pub title: String,
    pub blocks: Vec<Block>,
}

impl Document {
    pub fn new(title: impl Into<String>) -> Document {
        Document {
            title: title.into(),
            blocks: Vec::new(),
        }
    }

    pub fn heading(&mut self, text: impl Into<String>) {
        self.blocks.push(Block::Heading(text.into()));
    }

    pub fn paragraph(&mut self, text: impl Into<String>) {
        self.blocks.push(Block::Paragraph(text.into()));
    }

    pub fn list(&mut self, items: Vec<String>) {
        if !items.is_empty() {
            self.blocks.push(Block::List(items));
        }
    }

    pub fn table(&mut self, header: &[&str], rows: Vec<Vec<String>>) {
        self.blocks.push(Block::Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows,
        });
    }

    pub fn images(&mut self, images: Vec<Image>) {
        if !images.is_empty() {
            self.blocks.push(Block::Images(images));
        }
    }

    /// GitHub-flavoured Markdown; images linked by their relative paths.
    pub fn to_markdown(&self) -> String {
        let mut md = format!("# {}\n\n", self.title);
        for block in &self.blocks {
            match block {
                Block::Heading(text) => {
                    let _ = writeln!(md, "## {text}\n");
                }
                Block::Paragraph(text) => {
                    let _ = writeln!(md, "{text}\n");
                }
                Block::List(items) => {
                    for item in items {
                        let _ = writeln!(md, "- {item}");
                    }
                    md.push('\n');
                }
                Block::Table { header, rows } => {
                    let cell = |c: &String| c.replace('|', "\\|");
                    let _ = writeln!(
                        md,
                        "| {} |",
                        header.iter().map(cell).collect::<Vec<_>>().join(" | ")
                    );
                    let _ = writeln!(md, "|{}", "---|".repeat(header.len()));
                    for row in rows {
                        let _ = writeln!(
                            md,
                            "| {} |",
                            row.iter().map(cell).collect::<Vec<_>>().join(" | ")
                        );
                    }
                    md.push('\n');
                }
                Block::Images(images) => {
                    for image in images {
                        let _ = writeln!(
                            md,
                            "![{}]({})",
                            image.caption,
                            image.path.display().to_string().replace(' ', "%20")
                        );
                    }
                    md.push('\n');
                }
            }
        }
        md
    }

    /// One HTML file with the images of `base` embedded as `data:` URIs (PNG) or inline
    /// (SVG); an image that cannot be read is replaced by its caption.
    pub fn to_html(&self, base: &Path) -> String {
        let mut html = String::new();
        let _ = write!(
            html,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
            escape(&self.title),
            escape(&self.title)
        );
        for block in &self.blocks {
            match block {
                Block::Heading(text) => {
                    let _ = writeln!(html, "<h2>{}</h2>", inline(text));
                }
                Block::Paragraph(text) => {
                    let _ = writeln!(html, "<p>{}</p>", inline(text));
                }
                Block::List(items) => {
                    html.push_str("<ul>\n");
                    for item in items {
                        let _ = writeln!(html, "<li>{}</li>", inline(item));
                    }
                    html.push_str("</ul>\n");
                }
                Block::Table { header, rows } => {
                    html.push_str("<table>\n<tr>");
                    for h in header {
                        let _ = write!(html, "<th>{}</th>", inline(h));
                    }
                    html.push_str("</tr>\n");
                    for row in rows {
                        html.push_str("<tr>");
                        for c in row {
                            let _ = write!(html, "<td>{}</td>", inline(c));
                        }
                        html.push_str("</tr>\n");
                    }
                    html.push_str("</table>\n");
                }
                Block::Images(images) => {
                    let class = if images.len() > 1 {
                        "gallery"
                    } else {
                        "figure"
                    };
                    let _ = writeln!(html, "<div class=\"{class}\">");
                    for image in images {
                        let src = std::fs::read(base.join(&image.path))
                            .ok()
                            .map(|bytes| format!("data:image/png;base64,{}", base64(&bytes)));
                        match src {
                            Some(src) => {
                                let _ = writeln!(
                                    html,
                                    "<figure><img src=\"{src}\" alt=\"{c}\"><figcaption>{c}</figcaption></figure>",
                                    c = escape(&image.caption)
                                );
                            }
                            None => {
                                let _ = writeln!(
                                    html,
                                    "<figure><figcaption>{} (image missing)</figcaption></figure>",
                                    escape(&image.caption)
                                );
                            }
                        }
                    }
                    html.push_str("</div>\n");
                }
            }
        }
        html.push_str("</body>\n</html>\n");
        html
    }
}

const STYLE: &str = "body{font-family:sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;\
color:#222}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;\
padding:3px 8px;text-align:left}th{background:#eee}code{background:#f3f3f3;padding:0 3px}\
.figure img{max-width:100%}.gallery{display:flex;flex-wrap:wrap;gap:8px}\
.gallery figure{margin:0;width:240px}.gallery img{width:240px}figcaption{font-size:80%;color:#555}";

/// HTML-escaped text.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Escaped text with `code` spans (between backticks) as `<code>`.
fn inline(text: &str) -> String {
    text.split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                format!("<code>{}</code>", escape(part))
            } else {
                escape(part)
            }
        })
        .collect()
}

/// Standard base64 (RFC 4648 §4) with padding.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> shift) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        // RFC 4648 §10.
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain}");
        }
    }

    #[test]
    fn html_escapes_text_and_renders_code_spans() {
        let mut doc = Document::new("3I <test>");
        doc.paragraph("see `a<b.csv` & more");
        doc.table(&["q", "v"], vec![vec!["n".into(), "3.8 ± 0.3".into()]]);
        let html = doc.to_html(Path::new("."));
        assert!(html.contains("<h1>3I &lt;test&gt;</h1>"));
        assert!(html.contains("<p>see <code>a&lt;b.csv</code> &amp; more</p>"));
        assert!(html.contains("<td>3.8 ± 0.3</td>"));
        let md = doc.to_markdown();
        assert!(md.contains("| q | v |\n|---|---|\n| n | 3.8 ± 0.3 |"));
    }

    #[test]
    fn html_embeds_images_and_marks_missing_ones() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.png"), b"foo").unwrap();
        let mut doc = Document::new("t");
        doc.images(vec![
            Image {
                path: "a.png".into(),
                caption: "first".into(),
            },
            Image {
                path: "missing.png".into(),
                caption: "second".into(),
            },
        ]);
        let html = doc.to_html(dir.path());
        assert!(html.contains("src=\"data:image/png;base64,Zm9v\""));
        assert!(html.contains("second (image missing)"));
        assert!(!html.contains("missing.png"));
    }
}
