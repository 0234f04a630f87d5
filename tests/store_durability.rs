//! The embedded store under real process conditions: two rohe processes writing at once, and
//! processes killed with SIGKILL in the middle of a write.

mod common;
use common::Sandbox;
use std::time::Duration;

fn app_file(sb: &Sandbox, name: &str) -> String {
    let text = format!(
        "application_name: {name}\nrun_id: r1\nuser_id: u1\nstages:\n  - name: s\n    microservices:\n      - name: m1\n      - name: m2\n"
    );
    sb.write(&format!("{name}.yaml"), &text)
        .display()
        .to_string()
}

#[test]
fn two_processes_share_one_store() {
    let sb = Sandbox::new();
    let files: Vec<String> = (0..40).map(|i| app_file(&sb, &format!("p{i}"))).collect();
    let shared = app_file(&sb, "shared");
    std::thread::scope(|s| {
        for half in files.chunks(20) {
            let sb = &sb;
            let shared = &shared;
            s.spawn(move || {
                for f in half {
                    sb.ok(&["app", "register", "-f", f]);
                    sb.ok(&["app", "register", "-f", shared]);
                }
            });
        }
    });
    let apps = sb.json(&["app", "list"]);
    assert_eq!(apps.as_array().unwrap().len(), 41);
    let shared = sb.json(&["app", "show", "shared"]);
    assert_eq!(
        shared["application"]["client_count"], 40,
        "no registration lost between processes"
    );
    assert_eq!(shared["history"].as_array().unwrap().len(), 40);
}

#[test]
fn kill_9_loses_no_acknowledged_write_and_corrupts_nothing() {
    let sb = Sandbox::new();
    // Create the store first so that every killed process finds it.
    sb.ok(&["app", "list"]);
    let mut acknowledged = Vec::new();
    let mut killed = 0;
    for i in 0..40u64 {
        let name = format!("k{i}");
        let f = app_file(&sb, &name);
        let mut child = sb
            .cmd()
            .args(["app", "register", "-f", &f])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Spread the kills over start-up, the write and exit.
        std::thread::sleep(Duration::from_micros((i * 2_311) % 30_000));
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        if status.success() {
            acknowledged.push(name);
        } else {
            killed += 1;
        }
    }
    eprintln!(
        "kill -9 test: {} acknowledged, {killed} killed mid-way",
        acknowledged.len()
    );
    assert!(
        killed > 0,
        "no process was killed mid-way; the test proved nothing"
    );

    // The file is intact...
    let conn = rusqlite::Connection::open(sb.store()).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    drop(conn);
    // ...every acknowledged registration is there, whole...
    let apps = sb.json(&["app", "list"]);
    let names: Vec<&str> = apps
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["application_name"].as_str().unwrap())
        .collect();
    for n in &acknowledged {
        assert!(
            names.contains(&n.as_str()),
            "acknowledged registration {n} was lost"
        );
    }
    for a in apps.as_array().unwrap() {
        let n = a["application_name"].as_str().unwrap();
        let show = sb.json(&["app", "show", n]);
        assert_eq!(
            show["history"].as_array().unwrap().len(),
            1,
            "{n}: app and history written together"
        );
        assert_eq!(
            show["application"]["stages"][0]["microservices"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
    }
    // ...and the store keeps working.
    let f = app_file(&sb, "after");
    sb.ok(&["app", "register", "-f", &f]);
}
