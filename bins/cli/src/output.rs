//! Output helpers shared by every command: the `--output` format, plain tables and errors.

use clap::ValueEnum;
use serde::Serialize;

/// How a command prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Human-readable text and tables.
    Table,
    /// One JSON document on stdout.
    Json,
}

/// Renders rows under headers as left-aligned columns separated by two spaces.
pub fn render_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (i, (cell, width)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}  "));
            }
        }
        text.trim_end().to_owned()
    };
    let mut out = line(headers.to_vec());
    out.push('\n');
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Prints a command failure: `error: …` on stderr, plus a JSON error document on stdout in
/// JSON mode.
pub fn print_error(format: OutputFormat, error: &anyhow::Error) {
    eprintln!("error: {error:#}");
    if format == OutputFormat::Json {
        let doc = serde_json::json!({ "error": { "message": format!("{error:#}") } });
        println!("{doc}");
    }
}

#[cfg(test)]
mod tests {
    use super::render_table;

    #[test]
    fn aligns_columns() {
        let rows = vec![
            vec!["deepseek".to_owned(), "x".to_owned()],
            vec!["qwen".to_owned(), "yy".to_owned()],
        ];
        assert_eq!(
            render_table(&["ID", "V"], &rows),
            "ID        V\ndeepseek  x\nqwen      yy\n"
        );
    }
}
