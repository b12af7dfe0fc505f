//! Cross-module tests of the loyalty engine.

mod model;
