//! Bad input never panics, never writes, and always says which field is wrong and how to fix
//! it, with the documented exit code. Each row runs the real binary against a store that
//! already holds one application, and checks the store is unchanged afterwards.

mod common;
use common::{Sandbox, example};

struct Case {
    name: &'static str,
    /// Application description written to `app.yaml` (None: not written).
    file: Option<&'static [u8]>,
    args: &'static [&'static str],
    exit: i32,
    /// Text the error must contain (the field, and the specific complaint).
    expect: &'static [&'static str],
}

fn cases() -> Vec<Case> {
    vec![
        Case { name: "missing file", file: None, args: &["app", "register", "-f", "nope.yaml"], exit: 2, expect: &["--file", "nope.yaml"] },
        Case { name: "malformed yaml", file: Some(b"application_name: [shop\nrun_id: r1\n"), args: &["app", "register", "-f", "app.yaml"], exit: 2, expect: &["app.yaml:1:", "application_name", "invalid type"] },
        Case { name: "empty file", file: Some(b"   \n"), args: &["app", "register", "-f", "app.yaml"], exit: 2, expect: &["app.yaml", "empty"] },
        Case { name: "missing application_name", file: Some(b"run_id: r1\nuser_id: u1\n"), args: &["app", "register", "-f", "app.yaml"], exit: 2, expect: &["application_name", "missing field"] },
        Case { name: "missing run_id", file: Some(b"application_name: shop\nuser_id: u1\n"), args: &["app", "register", "-f", "app.yaml"], exit: 2, expect: &["run_id", "missing field"] },
        Case { name: "unknown top-level field", file: Some(b"application_name: shop\nrun_id: r1\nuser_id: u1\ncolour: red\n"), args: &["app", "register", "-f", "app.yaml"], exit: 2, expect: &["app.yaml:4", "colour", "unknown field"] },
        Case { name: "unknown microservice field", file: Some(b"application_name: shop\nrun_id: r1\nuser_id: u1\nstages:\n  - name: s\n    microservices:\n      - name: m\n        imagee: x\n"), args: &["app", "register", "-f", "app.yaml"], exit: 2, expect: &["stages[0].microservices[0].imagee", "unknown field"] },
        Case { name: "application name too long", file: Some(b"application_name: abcdefghijklmno\nrun_id: r1\nuser_id: u1\n"), args: &["app", "register", "-f", "app.yaml"], exit: 2, expect: &["application_name", "15 characters", "limit is 14", "63-byte"] },
        Case { name: "uppercase application name", file: Some(b"application_name: Shop\nrun_id: r1\nuser_id: u1\n"), args: &["app", "register", "-f", "app.yaml"], exit: 2, expect: &["application_name", "lowercase"] },
        Case { name: "dot in stage name", file: Some(b"application_name: shop\nrun_id: r1\nuser_id: u1\nstages:\n  - name: a.b\n"), args: &["app", "register", "-f", "app.yaml"], exit: 2, expect: &["stages[0].name", "app.yaml:5", "not a valid name"] },
        Case { name: "duplicate stage", file: Some(b"application_name: shop\nrun_id: r1\nuser_id: u1\nstages:\n  - name: a\n  - name: a\n"), args: &["app", "register", "-f", "app.yaml"], exit: 2, expect: &["stages[1].name", "duplicate stage"] },
        Case { name: "duplicate microservice", file: Some(b"application_name: shop\nrun_id: r1\nuser_id: u1\nstages:\n  - name: a\n    microservices:\n      - name: m\n      - name: m\n"), args: &["app", "register", "-f", "app.yaml"], exit: 2, expect: &["stages[0].microservices[1].name", "duplicate microservice"] },
        Case { name: "stages of the wrong type", file: Some(b"application_name: shop\nrun_id: r1\nuser_id: u1\nstages: lots\n"), args: &["app", "register", "-f", "app.yaml"], exit: 2, expect: &["stages", "invalid type"] },
        Case { name: "space in user_id", file: Some(b"application_name: shop\nrun_id: r1\nuser_id: jane doe\n"), args: &["app", "register", "-f", "app.yaml"], exit: 2, expect: &["user_id", "not a valid identifier"] },
        Case { name: "empty run_id", file: Some(b"application_name: shop\nrun_id: \"\"\nuser_id: u1\n"), args: &["app", "register", "-f", "app.yaml"], exit: 2, expect: &["run_id", "must not be empty"] },
        Case { name: "not UTF-8", file: Some(b"application_name: sh\xffop\nrun_id: r1\nuser_id: u1\n"), args: &["app", "register", "-f", "app.yaml"], exit: 2, expect: &["--file", "not UTF-8"] },
        Case { name: "control character in a tag", file: Some(b"application_name: shop\nrun_id: r1\nuser_id: u1\nstages:\n  - name: a\n    microservices:\n      - name: m\n        tags: {modelName: \"x\\e[2J\"}\n"), args: &["app", "register", "-f", "app.yaml"], exit: 2, expect: &["stages[0].microservices[0].tags.modelName"] },
        Case { name: "unregister without --yes in a script", file: None, args: &["app", "unregister", "cctvs"], exit: 2, expect: &["--yes"] },
        Case { name: "bad --since", file: None, args: &["audit", "list", "--since", "yesterday-ish"], exit: 2, expect: &["--since", "neither a time nor a duration"] },
        Case { name: "unknown config key", file: Some(b"store:\n  pathh: /x\n"), args: &["--config", "app.yaml", "app", "list"], exit: 2, expect: &["store.pathh", "app.yaml:2", "unknown field"] },
        Case { name: "bad URL in config", file: Some(b"qoa4ml:\n  registration_url: localhost:5010\n"), args: &["--config", "app.yaml", "app", "list"], exit: 2, expect: &["qoa4ml.registration_url", "app.yaml"] },
        Case { name: "unknown output format", file: None, args: &["app", "list", "--output", "xml"], exit: 2, expect: &["--output", "xml"] },
        Case { name: "unknown application", file: None, args: &["app", "show", "nope"], exit: 3, expect: &["no application named \"nope\"", "rohe app list"] },
        Case { name: "unknown microservice", file: None, args: &["app", "qoa-config", "cctvs", "--microservice", "nope"], exit: 3, expect: &["--microservice", "nope"] },
    ]
}

fn snapshot(sb: &Sandbox) -> (String, usize) {
    let apps = sb.ok(&["app", "list", "--output", "json"]);
    let audit: serde_json::Value =
        serde_json::from_str(&sb.ok(&["audit", "list", "--limit", "100000", "--output", "json"]))
            .unwrap();
    (apps, audit.as_array().unwrap().len())
}

#[test]
fn bad_inputs_are_refused_clearly_and_change_nothing() {
    let cases = cases();
    assert!(cases.len() >= 15);
    let sb = Sandbox::new();
    sb.ok(&[
        "app",
        "register",
        "-f",
        example("cctvs.yaml").to_str().unwrap(),
    ]);
    let before = snapshot(&sb);
    for case in cases {
        let _ = std::fs::remove_file(sb.path().join("app.yaml"));
        if let Some(bytes) = case.file {
            std::fs::write(sb.path().join("app.yaml"), bytes).unwrap();
        }
        let out = sb
            .cmd()
            .args(case.args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(case.exit),
            "{}: exit code; stderr: {stderr}",
            case.name
        );
        for want in case.expect {
            assert!(
                stderr.contains(want),
                "{}: stderr lacks {want:?}: {stderr}",
                case.name
            );
        }
        assert!(!stderr.contains("panicked"), "{}: {stderr}", case.name);
        assert!(
            !stderr.contains('\u{1b}'),
            "{}: raw escape in error output",
            case.name
        );
        assert_eq!(
            stderr.trim_end().lines().count(),
            1,
            "{}: one line: {stderr}",
            case.name
        );
        let after = snapshot(&sb);
        assert_eq!(after.0, before.0, "{}: the applications changed", case.name);
        // Not-found errors of executed operations are audited as failures; invalid input is not.
        if case.exit == 2 {
            assert_eq!(after.1, before.1, "{}: the audit log changed", case.name);
        }
    }
}

#[test]
fn json_errors_are_one_object_on_stderr() {
    let sb = Sandbox::new();
    let p = sb.write("a.yaml", "application_name: Bad\nrun_id: r\nuser_id: u\n");
    let out = sb.run(&[
        "app",
        "register",
        "-f",
        p.to_str().unwrap(),
        "--output",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stderr).expect("JSON error");
    assert_eq!(v["exit_code"], 2);
    assert_eq!(v["error"]["kind"], "invalid");
    assert_eq!(v["error"]["field"], "application_name");
    assert_eq!(v["error"]["line"], 1);
    assert!(out.stdout.is_empty());
}
