//! Rendering of analytics results: an aligned table for a terminal, CSV or JSON.
//! Every command builds [`Table`]s of [`Cell`]s; the renderer refuses a non-finite
//! number rather than printing `NaN`.

use anyhow::{Result, bail};
use std::io::Write;

/// How results are printed (`--output`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns for reading on a terminal.
    Table,
    Csv,
    Json,
}

/// One value of a table.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    Text(String),
    Int(i64),
    /// A number shown with this many decimals in tables and CSV (JSON keeps full precision).
    Float(f64, usize),
    Bool(bool),
    Empty,
}

impl Cell {
    fn text(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Int(v) => v.to_string(),
            Cell::Float(v, decimals) => format!("{v:.decimals$}"),
            Cell::Bool(b) => if *b { "yes" } else { "no" }.to_owned(),
            Cell::Empty => String::new(),
        }
    }

    fn json(&self) -> serde_json::Value {
        match self {
            Cell::Text(s) => serde_json::Value::from(s.as_str()),
            Cell::Int(v) => serde_json::Value::from(*v),
            Cell::Float(v, _) => serde_json::Value::from(*v),
            Cell::Bool(b) => serde_json::Value::from(*b),
            Cell::Empty => serde_json::Value::Null,
        }
    }

    fn is_numeric(&self) -> bool {
        matches!(self, Cell::Int(_) | Cell::Float(..))
    }
}

/// A titled table; `columns` name the cells of every row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Table {
    pub(crate) title: &'static str,
    pub(crate) columns: Vec<&'static str>,
    pub(crate) rows: Vec<Vec<Cell>>,
}

impl Table {
    pub(crate) fn new(title: &'static str, columns: &[&'static str]) -> Table {
        Table {
            title,
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, row: Vec<Cell>) {
        debug_assert_eq!(row.len(), self.columns.len());
        self.rows.push(row);
    }

    /// Checks that no number is NaN or infinite, naming the table, row and column.
    fn check_finite(&self) -> Result<()> {
        for (i, row) in self.rows.iter().enumerate() {
            for (j, cell) in row.iter().enumerate() {
                if let Cell::Float(v, _) = cell
                    && !v.is_finite()
                {
                    bail!(
                        "{}: row {}, column {} is not a finite number ({v}); please report this",
                        self.title,
                        i + 1,
                        self.columns[j]
                    );
                }
            }
        }
        Ok(())
    }
}

/// Writes `tables` in `format`. One table prints bare (JSON: an array of objects);
/// several print one after another (JSON: an object keyed by title).
pub(crate) fn write(out: &mut dyn Write, format: OutputFormat, tables: &[Table]) -> Result<()> {
    for t in tables {
        t.check_finite()?;
    }
    match format {
        OutputFormat::Table => {
            for (k, t) in tables.iter().enumerate() {
                if k > 0 {
                    writeln!(out)?;
                }
                if tables.len() > 1 {
                    writeln!(out, "{}", t.title)?;
                }
                write_aligned(out, t)?;
            }
        }
        OutputFormat::Csv => {
            for (k, t) in tables.iter().enumerate() {
                if k > 0 {
                    writeln!(out)?;
                }
                let mut w = csv::Writer::from_writer(&mut *out);
                w.write_record(&t.columns)?;
                for row in &t.rows {
                    w.write_record(row.iter().map(Cell::text))?;
                }
                w.flush()?;
            }
        }
        OutputFormat::Json => {
            let as_json = |t: &Table| {
                serde_json::Value::Array(
                    t.rows
                        .iter()
                        .map(|row| {
                            serde_json::Value::Object(
                                t.columns
                                    .iter()
                                    .zip(row)
                                    .map(|(c, v)| ((*c).to_owned(), v.json()))
                                    .collect(),
                            )
                        })
                        .collect(),
                )
            };
            let value = if let [only] = tables {
                as_json(only)
            } else {
                serde_json::Value::Object(
                    tables
                        .iter()
                        .map(|t| (t.title.to_owned(), as_json(t)))
                        .collect(),
                )
            };
            serde_json::to_writer_pretty(&mut *out, &value)?;
            writeln!(out)?;
        }
    }
    Ok(())
}

fn write_aligned(out: &mut dyn Write, t: &Table) -> Result<()> {
    let texts: Vec<Vec<String>> = t
        .rows
        .iter()
        .map(|r| r.iter().map(Cell::text).collect())
        .collect();
    let widths: Vec<usize> = (0..t.columns.len())
        .map(|j| {
            texts
                .iter()
                .map(|r| r[j].chars().count())
                .chain([t.columns[j].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String], numeric: &dyn Fn(usize) -> bool| -> String {
        cells
            .iter()
            .enumerate()
            .map(|(j, c)| {
                let pad = widths[j] - c.chars().count();
                if numeric(j) {
                    format!("{}{c}", " ".repeat(pad))
                } else {
                    format!("{c}{}", " ".repeat(pad))
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let header: Vec<String> = t.columns.iter().map(|c| (*c).to_owned()).collect();
    writeln!(out, "{}", line(&header, &|_| false))?;
    for (r, cells) in texts.iter().zip(&t.rows) {
        writeln!(out, "{}", line(r, &|j| cells[j].is_numeric()))?;
    }
    Ok(())
}
