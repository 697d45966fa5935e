//! Integration tests against real Ory servers in containers. Each test
//! stands up the services it needs and the stack is removed when it ends,
//! also on failure.

mod admin;
mod checks;
mod details;
mod docker;
mod forms;
mod hooks;
mod lifespans;
mod migration;
mod oathkeeper;
mod oauth2;
mod oauth2_refusals;
mod permissions;
mod ports;
mod production;
mod proxies;
mod recovery;
mod refusals;
mod sessions;
mod signals;
mod signup;
mod stack;
mod support;
mod ui;
mod ui_oauth2;
