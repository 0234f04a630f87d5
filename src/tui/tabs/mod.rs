//! What each tab shows: its columns, its rows, the detail of a row, and its empty state.
//! Nodes and Deployments come from the orchestration use cases on the configured cluster
//! (the simulated one on embedded defaults).

pub mod agents;
pub mod applications;
pub mod deployments;
pub mod metrics;
pub mod nodes;

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
            "No observation agents yet.".into(),
            "On the Applications tab (1), select an application and press s to".into(),
            "start its agent, or D to start the agent and the demo pipeline".into(),
            "(10 reports/s), then watch the Metrics tab (5).".into(),
        ],
        Tab::Nodes => vec![
            "No nodes in the inventory.".into(),
            "Add them with the CLI (the same request the console uses):".into(),
            "rohe node add -f example/nodes/edge-lab.yaml".into(),
        ],
        Tab::Deployments => vec![
            "No services to deploy.".into(),
            "Add them with `rohe service add -f example/services/cctvs.yaml`,".into(),
            "then press p to preview the plan and A to apply it.".into(),
        ],
        Tab::Metrics => {
            vec!["No reports yet: start the agent (Agents tab, s) and the demo (D).".into()]
        }
    }
}
