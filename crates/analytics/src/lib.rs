//! placeholder
pub mod calendar;
pub mod models;
pub mod optimize;
pub mod parse;
pub mod special;
pub mod summary;

#[cfg(test)]
mod test_data;
