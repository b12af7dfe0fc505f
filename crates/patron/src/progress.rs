//! A progress line for long tasks: drawn on stderr when it is a terminal, silent when piped.

use app::sys::Stopwatch;
use std::io::{IsTerminal, Write};

#[derive(Debug)]
pub struct Progress {
    enabled: bool,
    total_bytes: u64,
    started: Stopwatch,
    last_draw_ms: u128,
}

impl Progress {
    /// A bar over `total_bytes` of input (0 when unknown).
    pub fn new(total_bytes: u64) -> Progress {
        Progress {
            enabled: std::io::stderr().is_terminal(),
            total_bytes,
            started: Stopwatch::start(),
            last_draw_ms: 0,
        }
    }

    /// Redraws at most ten times a second.
    pub fn update(&mut self, bytes_done: u64, rows: u64) {
        if !self.enabled {
            return;
        }
        let elapsed = self.started.elapsed();
        let ms = elapsed.as_millis();
        if ms - self.last_draw_ms < 100 && bytes_done < self.total_bytes {
            return;
        }
        self.last_draw_ms = ms;
        let rate = rows as f64 / elapsed.as_secs_f64().max(1e-3);
        let mut err = std::io::stderr().lock();
        if self.total_bytes > 0 {
            let frac = (bytes_done as f64 / self.total_bytes as f64).min(1.0);
            let filled = (frac * 30.0) as usize;
            let _ = write!(
                err,
                "\r[{}{}] {:>3.0}% {rows} rows {rate:.0} rows/s ",
                "#".repeat(filled),
                ".".repeat(30 - filled),
                frac * 100.0
            );
        } else {
            let _ = write!(err, "\r{rows} rows {rate:.0} rows/s ");
        }
        let _ = err.flush();
    }

    pub fn finish(&mut self) {
        if self.enabled {
            let _ = writeln!(std::io::stderr());
        }
    }
}
