//! placeholder
pub mod calendar;
pub mod models;
pub mod optimize;
pub mod special;

#[cfg(test)]
mod test_data;
