//! What each tab shows: its columns, its rows, the detail of a row, and its empty state.
//! Nodes, Deployments and Metrics have no data source in this release: they say so, and
//! what will fill them, instead of showing anything made up.

pub mod agents;
pub mod applications;

use super::app::Tab;

/// The explanation a tab shows when it has no rows.
pub fn empty_state(tab: Tab, filtered: bool) -> Vec<String> {
    if filtered {
        return vec![
            "No rows match the filter.".into(),
            "Press esc to clear it.".into(),
        ];
    }
    match tab {
        Tab::Applications => vec![
            "No applications are registered.".into(),
            "Press a to register one with a form, or type".into(),
            ":app register example/applications/cctvs.yaml".into(),
            "(the same as `rohe app register -f FILE`).".into(),
        ],
        Tab::Agents => vec![
            "No observation agents are recorded in the store.".into(),
            "An agent record appears here when an application's observation".into(),
            "agent is started (`rohe agent start NAME`, which a later release".into(),
            "of rohe adds); until then this tab stays empty.".into(),
        ],
        Tab::Nodes => vec![
            "No node data: this rohe does not read cluster nodes yet.".into(),
            "The Nodes tab lists the edge cluster's nodes once a cluster".into(),
            "backend is configured (a later release adds one).".into(),
        ],
        Tab::Deployments => vec![
            "No deployment data: this rohe does not manage deployments yet.".into(),
            "The Deployments tab lists the microservice deployments of".into(),
            "registered applications once the orchestration backend".into(),
            "lands in a later release.".into(),
        ],
        Tab::Metrics => vec![
            "No metrics: no observation agent has stored reports yet.".into(),
            "The Metrics tab shows QoA4ML metrics per application once an".into(),
            "observation agent ingests them (a later release adds agents).".into(),
        ],
    }
}
