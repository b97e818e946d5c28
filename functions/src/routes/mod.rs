//! One module per resource; handlers are thin: validate, read the store, shape JSON.

pub mod admin;
pub mod events;
pub mod health;
pub mod items;
pub mod metrics;
pub mod openapi;
pub mod rank;
pub mod recommendations;
pub mod retrain;
pub mod similar;
pub mod trending;
pub mod users;
