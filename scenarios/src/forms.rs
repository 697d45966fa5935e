//! The shape of a self-service form, for snapshots that gate config drift:
//! each node's group, kind, name, input type, whether it is required, its
//! label's message id and its messages' ids, then the form's own messages.
//! Nothing that changes from run to run (flow ids, CSRF tokens, URLs with
//! ports, timestamps, values) is in it, so a snapshot differs only when the
//! form does: a new trait in the identity schema, a method switched on.

use std::fmt::Write as _;

use harness::kratos::{Flow, UiText};

/// The form of `flow` as a table, one node per line, in Kratos' order.
pub fn shape(flow: &Flow) -> String {
    let ids = |texts: &[UiText]| {
        if texts.is_empty() {
            "-".to_owned()
        } else {
            texts
                .iter()
                .map(|t| t.id.to_string())
                .collect::<Vec<_>>()
                .join(",")
        }
    };
    let mut out = format!("{} form, method {}\n", flow.flow_type, flow.ui.method);
    for node in &flow.ui.nodes {
        let a = &node.attributes;
        let label = node
            .meta
            .pointer("/label/id")
            .map_or_else(|| "-".to_owned(), ToString::to_string);
        let _ = writeln!(
            out,
            "{:<9} {:<6} {:<22} {:<9} {:<8} label {:<8} messages {}",
            node.group,
            a.node_type,
            a.name.as_deref().or(a.id.as_deref()).unwrap_or("-"),
            a.input_type.as_deref().unwrap_or("-"),
            if a.required == Some(true) {
                "required"
            } else {
                "optional"
            },
            label,
            ids(&node.messages),
        );
    }
    let _ = writeln!(out, "form messages {}", ids(&flow.ui.messages));
    out
}
