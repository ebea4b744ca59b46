//! Deployment: `template.yaml` and what it ships.
//!
//! - The template passes `cfn-lint` and `sam validate --lint` with no finding, and states the
//!   invariants a reviewer checks (arm64, provided.al2023, JSON logs with retention, IAM auth by
//!   default, permissions scoped to one resource each).
//! - `sam build` makes `.aws-sam/build/<function>/bootstrap`, an aarch64 ELF executable for
//!   Amazon Linux 2023, and that very file serves invocations under `qemu-aarch64` against the
//!   Runtime API peer, configured as the template configures it.
//! - The Distributed Map's batches (`Items` plus the template's `BatchInput`) are payloads the
//!   function accepts, and the template's JSONata expressions, evaluated by the reference
//!   implementation (npm `jsonata`) over the function's real answers, give the totals of one
//!   invocation over all the items.
//! - Lambda Managed Instances are opt-in: with the network parameters empty the stack is the
//!   standard one (no capacity provider, no operator role, a function without a capacity
//!   provider); with them set, an arm64 capacity provider in those subnets runs the function,
//!   configured by the template's parameters, and that configuration lints clean and is one the
//!   built function serves under.
//!
//! The tools come from `scripts/install-tools`, which these tests run for any that is missing.

#[path = "support/lambda_process.rs"]
mod lambda_process;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::thread;

use lambda_process::{root, text_of, LambdaProcess, Line};
use runtime_api_peer::{Outcome, RuntimeApiPeer};
use serde_json::{json, Map, Value};

/// Step Functions' limit on a state's input or output, and so on one batch.
const STATE_LIMIT_BYTES: usize = 256 * 1024;
/// ELF `e_machine` of AArch64.
const EM_AARCH64: u16 = 183;
/// The dynamic loader of aarch64 glibc systems such as Amazon Linux 2023.
const AARCH64_LOADER: &str = "/lib/ld-linux-aarch64.so.1";
/// The glibc of Amazon Linux 2023 (`provided.al2023`): the binary may need no newer symbol.
const AL2023_GLIBC: (u32, u32) = (2, 34);
/// Where Debian's `libc6-arm64-cross` puts the aarch64 libraries qemu needs.
const AARCH64_SYSROOT: &str = "/usr/aarch64-linux-gnu";
/// A stand-in for the function's ARN where the template says `!GetAtt Function.Arn`.
const EXAMPLE_FUNCTION_ARN: &str =
    "arn:aws:lambda:us-east-1:123456789012:function:frequency-fanout";
/// A stand-in for `DatasetBucketName`, whose default (empty) turns the state machine off.
const EXAMPLE_BUCKET: &str = "example-datasets";
/// Stand-ins for the network parameters, whose defaults (empty) turn Lambda Managed Instances off.
const EXAMPLE_SUBNETS: &str = "subnet-0a1b2c3d4e5f60718,subnet-1b2c3d4e5f6071829";
const EXAMPLE_SECURITY_GROUPS: &str = "sg-0a1b2c3d4e5f60718";
/// The managed policy AWS documents for the capacity provider's operator role.
const OPERATOR_POLICY_ARN: &str =
    "arn:${AWS::Partition}:iam::aws:policy/AWSLambdaManagedEC2ResourceOperator";
/// Lambda Managed Instances' largest execution environment, in MB.
const MANAGED_MAX_MEMORY_MB: u64 = 32 * 1024;
/// Lambda Managed Instances' smallest execution environment, in MB.
const MANAGED_MIN_MEMORY_MB: u64 = 2 * 1024;

// ---------------------------------------------------------------------------------------------
// Tools
// ---------------------------------------------------------------------------------------------

fn venv_bin(name: &str) -> PathBuf {
    root().join(".venv").join("bin").join(name)
}

/// A tool of `scripts/install-tools`, and how to see that it is installed.
struct Tool {
    name: &'static str,
    installed: fn() -> bool,
}

const TOOLS: &[Tool] = &[
    Tool {
        name: "aws-sam-cli",
        installed: || venv_bin("sam").is_file(),
    },
    Tool {
        name: "cfn-lint",
        installed: || venv_bin("cfn-lint").is_file(),
    },
    Tool {
        name: "cargo-lambda",
        installed: || venv_bin("cargo-lambda").is_file(),
    },
    Tool {
        name: "ziglang",
        installed: || {
            Command::new(venv_bin("python"))
                .args(["-c", "import ziglang"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        },
    },
    Tool {
        name: "rust-aarch64",
        installed: || {
            let sysroot = Command::new("rustc").args(["--print", "sysroot"]).output();
            sysroot.is_ok_and(|out| {
                let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_string();
                Path::new(&sysroot)
                    .join("lib/rustlib/aarch64-unknown-linux-gnu/lib")
                    .is_dir()
            })
        },
    },
    Tool {
        name: "qemu-aarch64",
        installed: || {
            Path::new(AARCH64_SYSROOT)
                .join("lib/ld-linux-aarch64.so.1")
                .exists()
                && Command::new("qemu-aarch64")
                    .arg("--version")
                    .stdout(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
        },
    },
    Tool {
        name: "jsonata",
        installed: || {
            root()
                .join("tools/jsonata/node_modules/jsonata/package.json")
                .is_file()
        },
    },
];

/// Runs `scripts/install-tools` for those of `names` that are missing (each at most once per
/// test process; the script itself takes turns with concurrent runs on a lock).
fn ensure_tools(names: &[&str]) {
    static CHECKED: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let mut checked = CHECKED.lock().unwrap_or_else(|p| p.into_inner());
    let mut missing = Vec::new();
    for name in names {
        let tool = TOOLS
            .iter()
            .find(|tool| tool.name == *name)
            .unwrap_or_else(|| panic!("no tool {name} in TOOLS"));
        if checked.contains(&tool.name) {
            continue;
        }
        if !(tool.installed)() {
            missing.push(tool.name);
        }
    }
    if !missing.is_empty() {
        eprintln!("installing missing tools: {}", missing.join(" "));
        let output = Command::new("bash")
            .arg(root().join("scripts/install-tools"))
            .args(&missing)
            .current_dir(root())
            .stdin(Stdio::null())
            .output()
            .expect("scripts/install-tools runs");
        assert!(
            output.status.success(),
            "scripts/install-tools {} failed ({}):\n{}",
            missing.join(" "),
            output.status,
            text(&output)
        );
        for name in &missing {
            let tool = TOOLS.iter().find(|tool| tool.name == *name).unwrap();
            assert!(
                (tool.installed)(),
                "scripts/install-tools {name} succeeded, yet the tool is not there"
            );
        }
    }
    checked.extend(
        names
            .iter()
            .map(|name| TOOLS.iter().find(|tool| tool.name == *name).unwrap().name),
    );
}

/// PATH with the project's `.venv/bin` first (cargo finds `cargo lambda` there, and cargo-lambda
/// finds Zig through its `python3`).
fn tools_path() -> String {
    let mut path = root().join(".venv/bin").display().to_string();
    if let Some(inherited) = std::env::var_os("PATH") {
        path.push(':');
        path.push_str(&inherited.to_string_lossy());
    }
    path
}

/// A command for a tool in `.venv/bin`, without AWS credentials and with a region: the checks
/// must pass on a machine that has no AWS account configured.
fn venv_command(name: &str) -> Command {
    let mut command = Command::new(venv_bin(name));
    without_aws_account(&mut command);
    command
}

fn without_aws_account(command: &mut Command) {
    let nowhere = scratch_dir().join("no-aws-config");
    for variable in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
    ] {
        command.env_remove(variable);
    }
    command
        .current_dir(root())
        .env("PATH", tools_path())
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", nowhere.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", nowhere.join("credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("SAM_CLI_TELEMETRY", "0")
        .stdin(Stdio::null());
}

/// Where these tests keep their files: under `target/`, out of the work tree.
fn scratch_dir() -> PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
        .join("deployment");
    fs::create_dir_all(&dir).expect("the scratch directory can be created");
    dir
}

fn text(output: &Output) -> String {
    format!(
        "--- stdout ---\n{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

// ---------------------------------------------------------------------------------------------
// The template, as data
// ---------------------------------------------------------------------------------------------

/// `template.yaml` as JSON, with the short-form intrinsics (`!Ref X`, `!GetAtt A.B`, `!Sub s`,
/// `!If [...]`, ...) in their long forms (`{"Ref": "X"}`, `{"Fn::GetAtt": ["A", "B"]}`, ...).
fn template() -> &'static Value {
    static TEMPLATE: OnceLock<Value> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let text = fs::read_to_string(root().join("template.yaml")).expect("template.yaml exists");
        let yaml: serde_norway::Value =
            serde_norway::from_str(&text).expect("template.yaml is YAML");
        yaml_to_json(yaml)
    })
}

fn yaml_to_json(value: serde_norway::Value) -> Value {
    use serde_norway::Value as Y;
    match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                json!(i)
            } else if let Some(u) = n.as_u64() {
                json!(u)
            } else {
                json!(n.as_f64().expect("a YAML number is an integer or a float"))
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(yaml_to_json).collect()),
        Y::Mapping(mapping) => {
            let mut object = Map::new();
            for (key, value) in mapping {
                let key = match yaml_to_json(key) {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                object.insert(key, yaml_to_json(value));
            }
            Value::Object(object)
        }
        Y::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let inner = yaml_to_json(tagged.value);
            match name {
                "Ref" | "Condition" => json!({ name: inner }),
                "GetAtt" => match inner {
                    Value::String(s) => {
                        let (resource, attribute) =
                            s.split_once('.').expect("!GetAtt names Resource.Attribute");
                        json!({ "Fn::GetAtt": [resource, attribute] })
                    }
                    other => json!({ "Fn::GetAtt": other }),
                },
                _ => json!({ format!("Fn::{name}"): inner }),
            }
        }
    }
}

fn resources() -> &'static Map<String, Value> {
    template()["Resources"]
        .as_object()
        .expect("the template has Resources")
}

fn resource(id: &str) -> &'static Value {
    resources()
        .get(id)
        .unwrap_or_else(|| panic!("the template has no resource {id}"))
}

fn resources_of_type(kind: &str) -> Vec<(&'static str, &'static Value)> {
    resources()
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .map(|(id, r)| (id.as_str(), r))
        .collect()
}

/// The one resource of `kind`.
fn the_one(kind: &str) -> (&'static str, &'static Value) {
    let found = resources_of_type(kind);
    assert_eq!(
        found.len(),
        1,
        "expected exactly one {kind}, found {found:?}"
    );
    found[0]
}

/// The function as it runs on standard Lambda: the one without a capacity provider.
fn function() -> (&'static str, &'static Value) {
    the_function(false)
}

/// The function as it runs on Lambda Managed Instances: the one with a capacity provider.
fn managed_function() -> (&'static str, &'static Value) {
    the_function(true)
}

fn the_function(managed: bool) -> (&'static str, &'static Value) {
    let functions = resources_of_type("AWS::Serverless::Function");
    assert_eq!(
        functions.len(),
        2,
        "expected the function twice (standard Lambda, Managed Instances), found {functions:?}"
    );
    let found: Vec<_> = functions
        .into_iter()
        .filter(|(_, f)| f["Properties"].get("CapacityProviderConfig").is_some() == managed)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one function with managed = {managed}, found {found:?}"
    );
    found[0]
}

/// What the template says wherever it means "the function's ARN": whichever of the two exists.
fn function_arn() -> Value {
    json!({"Fn::If": [
        managed_condition(),
        {"Fn::GetAtt": [managed_function().0, "Arn"]},
        {"Fn::GetAtt": [function().0, "Arn"]}
    ]})
}

/// The condition under which the function runs on Lambda Managed Instances.
fn managed_condition() -> &'static str {
    managed_function().1["Condition"]
        .as_str()
        .expect("the managed function is conditional")
}

/// The parameters that turn Lambda Managed Instances on, at example values.
fn managed_values() -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("ManagedInstancesSubnetIds", EXAMPLE_SUBNETS.to_string()),
        (
            "ManagedInstancesSecurityGroupIds",
            EXAMPLE_SECURITY_GROUPS.to_string(),
        ),
    ])
}

fn state_machine() -> (&'static str, &'static Value) {
    the_one("AWS::Serverless::StateMachine")
}

fn parameter(name: &str) -> &'static Value {
    template()["Parameters"]
        .get(name)
        .unwrap_or_else(|| panic!("the template has no parameter {name}"))
}

/// A parameter's default, as CloudFormation passes it around: a string.
fn parameter_default(name: &str) -> String {
    match &parameter(name)["Default"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => panic!("parameter {name} has no usable Default: {other}"),
    }
}

/// The name of the parameter `value` refers to, if it is `{"Ref": PARAMETER}`.
fn ref_parameter(value: &Value) -> Option<&str> {
    let name = value.get("Ref")?.as_str()?;
    template()["Parameters"].get(name).map(|_| name)
}

/// Evaluates a condition of the template with the parameters at `values` (else their defaults).
fn condition(name: &str, values: &BTreeMap<&str, String>) -> bool {
    let definition = template()["Conditions"]
        .get(name)
        .unwrap_or_else(|| panic!("the template has no condition {name}"));
    condition_value(definition, values)
}

fn condition_value(value: &Value, values: &BTreeMap<&str, String>) -> bool {
    let (function, arguments) = value
        .as_object()
        .and_then(|o| o.iter().next())
        .unwrap_or_else(|| panic!("not a condition function: {value}"));
    let arguments = arguments.as_array();
    match function.as_str() {
        "Fn::Equals" => {
            let pair = arguments.expect("Fn::Equals takes two values");
            scalar(&pair[0], values) == scalar(&pair[1], values)
        }
        "Fn::Not" => !condition_value(&arguments.expect("Fn::Not takes a list")[0], values),
        "Fn::And" => arguments
            .unwrap()
            .iter()
            .all(|c| condition_value(c, values)),
        "Fn::Or" => arguments
            .unwrap()
            .iter()
            .any(|c| condition_value(c, values)),
        "Condition" => condition(value["Condition"].as_str().unwrap(), values),
        other => panic!("unexpected condition function {other}"),
    }
}

/// A scalar, a parameter reference, a `Fn::Join` of a list parameter or a `Fn::FindInMap` with
/// such keys, as a string. List parameters are comma-separated strings, as CloudFormation takes
/// them.
fn scalar(value: &Value, values: &BTreeMap<&str, String>) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ if value.get("Fn::Join").is_some() => {
            let join = value["Fn::Join"].as_array().expect("Fn::Join takes a list");
            let delimiter = join[0].as_str().expect("a Fn::Join delimiter");
            let list = scalar(&join[1], values);
            list.split(',').collect::<Vec<_>>().join(delimiter)
        }
        _ if value.get("Fn::FindInMap").is_some() => {
            let find = value["Fn::FindInMap"]
                .as_array()
                .expect("Fn::FindInMap takes a list");
            let map = find[0].as_str().expect("a mapping name");
            let (top, second) = (scalar(&find[1], values), scalar(&find[2], values));
            let found = &template()["Mappings"][map][&top][&second];
            assert!(!found.is_null(), "{map} has no {top}/{second}");
            scalar(found, values)
        }
        _ => {
            let name = ref_parameter(value).unwrap_or_else(|| panic!("not a parameter: {value}"));
            parameter_value(name, values)
        }
    }
}

/// A parameter's value: from `values`, else its default.
fn parameter_value(name: &str, values: &BTreeMap<&str, String>) -> String {
    values
        .get(name)
        .cloned()
        .unwrap_or_else(|| parameter_default(name))
}

/// A property value with parameters at `values` (else defaults): `None` for `AWS::NoValue`.
fn resolve(value: &Value, values: &BTreeMap<&str, String>) -> Option<String> {
    if value.get("Ref").and_then(Value::as_str) == Some("AWS::NoValue") {
        return None;
    }
    if let Some(branches) = value.get("Fn::If").and_then(Value::as_array) {
        let chosen = if condition(branches[0].as_str().unwrap(), values) {
            &branches[1]
        } else {
            &branches[2]
        };
        return resolve(chosen, values);
    }
    Some(scalar(value, values))
}

/// The environment the template gives the function, with the parameters at `values` (else
/// their defaults): its variables, the logging settings Lambda turns into variables, and the
/// memory size.
fn function_environment(values: &BTreeMap<&str, String>) -> Vec<(String, String)> {
    environment_of(function().1, values)
}

/// The environment the template gives `function`, as [`function_environment`] says, and on Lambda
/// Managed Instances also what Lambda adds there: the concurrency per environment and the
/// initialization type.
fn environment_of(function: &Value, values: &BTreeMap<&str, String>) -> Vec<(String, String)> {
    let properties = &function["Properties"];
    let mut env = Vec::new();
    for (name, value) in properties["Environment"]["Variables"]
        .as_object()
        .expect("the function has environment variables")
    {
        if let Some(value) = resolve(value, values) {
            env.push((name.clone(), value));
        }
    }
    let logging = &properties["LoggingConfig"];
    env.push((
        "AWS_LAMBDA_LOG_FORMAT".into(),
        resolve(&logging["LogFormat"], values).unwrap(),
    ));
    env.push((
        "AWS_LAMBDA_LOG_LEVEL".into(),
        resolve(&logging["ApplicationLogLevel"], values).unwrap(),
    ));
    env.push((
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(),
        resolve(&properties["MemorySize"], values).unwrap(),
    ));
    let managed = &properties["CapacityProviderConfig"];
    if !managed.is_null() {
        env.push((
            "AWS_LAMBDA_MAX_CONCURRENCY".into(),
            resolve(&managed["PerExecutionEnvironmentMaxConcurrency"], values).unwrap(),
        ));
        env.push((
            "AWS_LAMBDA_INITIALIZATION_TYPE".into(),
            "lambda-managed-instances".into(),
        ));
    }
    env
}

/// Every policy statement the template grants, with where it is.
fn policy_statements() -> Vec<(String, Value)> {
    let mut statements = Vec::new();
    let mut add = |place: String, document: &Value| {
        let list = match &document["Statement"] {
            Value::Array(items) => items.clone(),
            single => vec![single.clone()],
        };
        for statement in list {
            statements.push((place.clone(), statement));
        }
    };
    for (id, r) in resources() {
        let properties = &r["Properties"];
        match r["Type"].as_str().unwrap_or("") {
            "AWS::IAM::Role" => {
                for policy in properties["Policies"].as_array().into_iter().flatten() {
                    add(
                        format!("{id}/{}", policy["PolicyName"].as_str().unwrap_or("?")),
                        &policy["PolicyDocument"],
                    );
                }
            }
            "AWS::IAM::RolePolicy" | "AWS::IAM::Policy" | "AWS::IAM::ManagedPolicy" => {
                add(id.clone(), &properties["PolicyDocument"]);
            }
            _ => {}
        }
    }
    statements
}

/// Whether the template's rule `name` lets a stack be created with the parameters at `values`
/// (else their defaults): its `RuleCondition`, if any, is false, or all its assertions hold.
fn rule_holds(name: &str, values: &BTreeMap<&str, String>) -> bool {
    let rule = &template()["Rules"][name];
    assert!(rule.is_object(), "the template has no rule {name}");
    if let Some(applies) = rule.get("RuleCondition") {
        if !rule_value(applies, values) {
            return true;
        }
    }
    rule["Assertions"]
        .as_array()
        .unwrap_or_else(|| panic!("rule {name} has no Assertions"))
        .iter()
        .all(|assertion| rule_value(&assertion["Assert"], values))
}

/// A rule function, evaluated as CloudFormation does before it creates anything.
fn rule_value(value: &Value, values: &BTreeMap<&str, String>) -> bool {
    let (function, arguments) = value
        .as_object()
        .and_then(|o| o.iter().next())
        .unwrap_or_else(|| panic!("not a rule function: {value}"));
    let list = |value: &Value| -> Vec<String> {
        match value {
            Value::Array(items) => items.iter().map(|item| scalar(item, values)).collect(),
            reference => scalar(reference, values)
                .split(',')
                .map(str::to_string)
                .collect(),
        }
    };
    let arguments = arguments.as_array();
    match function.as_str() {
        "Fn::And" => arguments.unwrap().iter().all(|a| rule_value(a, values)),
        "Fn::Or" => arguments.unwrap().iter().any(|a| rule_value(a, values)),
        "Fn::Not" => !rule_value(&arguments.unwrap()[0], values),
        "Fn::Equals" => {
            let pair = arguments.unwrap();
            scalar(&pair[0], values) == scalar(&pair[1], values)
        }
        "Fn::Contains" => {
            let pair = arguments.unwrap();
            list(&pair[0]).contains(&scalar(&pair[1], values))
        }
        "Fn::EachMemberEquals" => {
            let pair = arguments.unwrap();
            let expected = scalar(&pair[1], values);
            list(&pair[0]).iter().all(|member| *member == expected)
        }
        other => panic!("unexpected rule function {other}"),
    }
}

/// The template as CloudFormation deploys it with the parameters at `values` (else their
/// defaults): resources and outputs whose condition is false left out, every `Fn::If` replaced by
/// the branch it takes, `AWS::NoValue` properties dropped, no conditions left. The parameters'
/// defaults are `values`, so that a linter resolving `Ref`s sees what CloudFormation would.
fn resolved_template(values: &BTreeMap<&str, String>) -> Value {
    fn branches(value: &Value, values: &BTreeMap<&str, String>) -> Option<Value> {
        match value {
            Value::Object(object) => {
                if let Some(arguments) = object.get("Fn::If").and_then(Value::as_array) {
                    let name = arguments[0].as_str().expect("Fn::If names a condition");
                    let taken = if condition(name, values) {
                        &arguments[1]
                    } else {
                        &arguments[2]
                    };
                    return branches(taken, values);
                }
                if value.get("Ref").and_then(Value::as_str) == Some("AWS::NoValue") {
                    return None;
                }
                Some(Value::Object(
                    object
                        .iter()
                        .filter_map(|(k, v)| branches(v, values).map(|v| (k.clone(), v)))
                        .collect(),
                ))
            }
            Value::Array(items) => Some(Value::Array(
                items.iter().filter_map(|v| branches(v, values)).collect(),
            )),
            other => Some(other.clone()),
        }
    }
    let mut resolved = template().clone();
    let object = resolved.as_object_mut().unwrap();
    object.remove("Conditions");
    for (name, value) in values {
        let parameter = object["Parameters"]
            .get_mut(*name)
            .unwrap_or_else(|| panic!("the template has no parameter {name}"));
        parameter["Default"] = json!(value);
    }
    for section in ["Resources", "Outputs"] {
        let entries = object[section].as_object_mut().unwrap();
        entries.retain(|_, entry| {
            entry
                .get("Condition")
                .and_then(Value::as_str)
                .is_none_or(|name| condition(name, values))
        });
        for entry in entries.values_mut() {
            entry.as_object_mut().unwrap().remove("Condition");
            *entry = branches(entry, values).unwrap();
        }
    }
    resolved
}

/// The role Lambda assumes to run the capacity provider's EC2 instances.
fn operator_role_id() -> &'static str {
    capacity_provider().1["Properties"]["PermissionsConfig"]["CapacityProviderOperatorRoleArn"]
        ["Fn::GetAtt"][0]
        .as_str()
        .expect("the operator role is the template's")
}

fn capacity_provider() -> (&'static str, &'static Value) {
    the_one("AWS::Lambda::CapacityProvider")
}

/// The strings of a statement's `Action` or `Resource`, with `Fn::Sub` templates as written and
/// other intrinsics rendered as JSON.
fn statement_strings(value: &Value) -> Vec<String> {
    match value {
        Value::Null => Vec::new(),
        Value::Array(items) => items.iter().flat_map(statement_strings).collect(),
        Value::String(s) => vec![s.clone()],
        other => match other.get("Fn::Sub") {
            Some(Value::String(template)) => vec![template.clone()],
            _ => vec![other.to_string()],
        },
    }
}

// ---------------------------------------------------------------------------------------------
// The state machine, as data
// ---------------------------------------------------------------------------------------------

/// The parts of the Distributed Map the checks read.
struct DistributedMap {
    /// `DefinitionSubstitutions`: placeholder name to its value in the template.
    substitutions: &'static Map<String, Value>,
    map: &'static Value,
    task: &'static Value,
}

fn distributed_map() -> DistributedMap {
    let properties = &state_machine().1["Properties"];
    let definition = &properties["Definition"];
    let start = definition["StartAt"]
        .as_str()
        .expect("the definition has StartAt");
    let map = &definition["States"][start];
    assert_eq!(
        map["Type"], "Map",
        "the state machine starts with its Map state"
    );
    let processor = &map["ItemProcessor"];
    let first = processor["StartAt"]
        .as_str()
        .expect("the processor has StartAt");
    let task = &processor["States"][first];
    assert_eq!(task["Type"], "Task", "each batch goes to one Task state");
    DistributedMap {
        substitutions: properties["DefinitionSubstitutions"]
            .as_object()
            .expect("the state machine has DefinitionSubstitutions"),
        map,
        task,
    }
}

impl DistributedMap {
    /// The text with every `${NAME}` replaced by its substitution, parameters at their
    /// defaults unless `values` says otherwise (`DatasetBucketName` at [`EXAMPLE_BUCKET`]) and
    /// the function's ARN at [`EXAMPLE_FUNCTION_ARN`].
    fn substitute(&self, text: &str, values: &BTreeMap<&str, String>) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').expect("a placeholder ends with }") + start;
            let name = &rest[start + 2..end];
            let value = self
                .substitutions
                .get(name)
                .unwrap_or_else(|| panic!("${{{name}}} has no DefinitionSubstitutions entry"));
            let replacement = if let Some(parameter) = ref_parameter(value) {
                match values.get(parameter) {
                    Some(v) => v.clone(),
                    None if parameter == "DatasetBucketName" => EXAMPLE_BUCKET.to_string(),
                    None => parameter_default(parameter),
                }
            } else if *value == function_arn() {
                EXAMPLE_FUNCTION_ARN.to_string()
            } else {
                panic!("unexpected substitution {name}: {value}")
            };
            out.push_str(&replacement);
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }

    /// A JSONata field's expression, substituted: the text between `{%` and `%}`.
    fn expression(&self, field: &Value, values: &BTreeMap<&str, String>) -> String {
        let text = field
            .as_str()
            .unwrap_or_else(|| panic!("not a JSONata field: {field}"));
        let inner = text
            .trim()
            .strip_prefix("{%")
            .and_then(|t| t.strip_suffix("%}"))
            .unwrap_or_else(|| panic!("not a JSONata expression: {text}"));
        self.substitute(inner, values)
    }

    /// The fields of an object whose values are all JSONata expressions, substituted.
    fn expressions(
        &self,
        object: &Value,
        values: &BTreeMap<&str, String>,
    ) -> Vec<(String, String)> {
        object
            .as_object()
            .unwrap_or_else(|| panic!("expected an object of JSONata fields: {object}"))
            .iter()
            .map(|(name, field)| (name.clone(), self.expression(field, values)))
            .collect()
    }

    fn max_items_per_batch(&self) -> usize {
        self.map["ItemBatcher"]["MaxItemsPerBatch"]
            .as_u64()
            .expect("MaxItemsPerBatch is a number") as usize
    }

    fn max_input_bytes_per_batch(&self) -> usize {
        self.map["ItemBatcher"]["MaxInputBytesPerBatch"]
            .as_u64()
            .expect("MaxInputBytesPerBatch is a number") as usize
    }
}

// ---------------------------------------------------------------------------------------------
// JSONata, by the reference implementation
// ---------------------------------------------------------------------------------------------

/// What one JSONata expression gave.
#[derive(Debug, PartialEq)]
enum Evaluated {
    Value(Value),
    /// No value: Step Functions fails the state (States.QueryEvaluationError).
    Undefined,
    Error(String),
}

/// Evaluates each `(expression, $states)` with npm `jsonata`, in one node process.
fn jsonata(cases: &[(String, Value)]) -> Vec<Evaluated> {
    ensure_tools(&["jsonata"]);
    let input: Vec<Value> = cases
        .iter()
        .map(|(expression, states)| json!({ "expression": expression, "states": states }))
        .collect();
    let mut child = Command::new("node")
        .arg(root().join("tools/jsonata/evaluate.js"))
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs");
    let payload = serde_json::to_vec(&input).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = thread::spawn(move || stdin.write_all(&payload));
    let output = child.wait_with_output().expect("node finishes");
    writer.join().unwrap().expect("node reads its input");
    assert!(
        output.status.success(),
        "evaluate.js failed:\n{}",
        text(&output)
    );
    let results: Vec<Value> =
        serde_json::from_slice(&output.stdout).expect("evaluate.js prints JSON");
    assert_eq!(results.len(), cases.len());
    results
        .into_iter()
        .map(|result| {
            if let Some(value) = result.get("value") {
                Evaluated::Value(value.clone())
            } else if result.get("undefined").is_some() {
                Evaluated::Undefined
            } else {
                Evaluated::Error(result["error"].as_str().unwrap_or("?").to_string())
            }
        })
        .collect()
}

/// Evaluates the fields of a JSONata object (an `Output` or `BatchInput`) as Step Functions
/// does: every field must give a value.
fn jsonata_object(fields: &[(String, String)], states: &Value) -> Value {
    let cases: Vec<(String, Value)> = fields
        .iter()
        .map(|(_, expression)| (expression.clone(), states.clone()))
        .collect();
    let mut object = Map::new();
    for ((name, expression), result) in fields.iter().zip(jsonata(&cases)) {
        match result {
            Evaluated::Value(value) => {
                object.insert(name.clone(), value);
            }
            other => panic!("{name}: `{expression}` over {states} gave {other:?}"),
        }
    }
    Value::Object(object)
}

// ---------------------------------------------------------------------------------------------
// sam build, and the built bootstrap under qemu
// ---------------------------------------------------------------------------------------------

/// Runs `sam build` once per test process and returns the bootstrap it made. A lock keeps two
/// test processes in one work tree from building at once; Cargo builds into its own target
/// directory under `target/deployment/`, so the build never waits on other cargo commands.
fn built_bootstrap() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        ensure_tools(&["aws-sam-cli", "cargo-lambda", "ziglang", "rust-aarch64"]);
        let (logical_id, _) = function();
        let scratch = scratch_dir();
        let lock = scratch.join("sam-build.lock");
        let started = std::time::Instant::now();
        let mut command = Command::new("flock");
        without_aws_account(&mut command);
        command
            .arg(&lock)
            .arg(venv_bin("sam"))
            .args(["build", "--template-file", "template.yaml"])
            .env("CARGO_TARGET_DIR", scratch.join("cargo"));
        let output = command.output().expect("flock and sam run");
        assert!(
            output.status.success(),
            "sam build failed:\n{}",
            text(&output)
        );
        let bootstrap = root()
            .join(".aws-sam/build")
            .join(logical_id)
            .join("bootstrap");
        assert!(
            bootstrap.is_file(),
            "sam build made no {}:\n{}",
            bootstrap.display(),
            text(&output)
        );
        // The tests run a private copy: another build in this tree may replace the file.
        let copy = scratch.join(format!("bootstrap-{}", std::process::id()));
        fs::copy(&bootstrap, &copy).expect("the bootstrap can be copied");
        eprintln!(
            "sam build: {} ({} bytes) in {:.1} s",
            bootstrap.display(),
            fs::metadata(&bootstrap).unwrap().len(),
            started.elapsed().as_secs_f64()
        );
        copy
    })
}

/// The built bootstrap running under qemu-aarch64, served by its own Runtime API peer.
/// Dropping it kills the process.
struct Emulated {
    process: LambdaProcess,
}

impl Emulated {
    /// Starts the bootstrap with the environment the template gives it, parameters at
    /// `values` (else their defaults).
    fn start(values: &BTreeMap<&str, String>) -> Emulated {
        Emulated::with_environment(function_environment(values))
    }

    /// Starts the bootstrap with `environment` besides the Runtime API's variables.
    fn with_environment(environment: Vec<(String, String)>) -> Emulated {
        ensure_tools(&["qemu-aarch64"]);
        let bootstrap = built_bootstrap();
        let peer = RuntimeApiPeer::start().expect("the Runtime API peer starts");
        let mut command = Command::new("qemu-aarch64");
        command.arg("-L").arg(AARCH64_SYSROOT).arg(bootstrap);
        // Only what Lambda would set: nothing of the developer's shell changes the function.
        command.env_clear();
        command
            .envs(peer.lambda_env())
            .envs(environment)
            .env("TZ", "UTC");
        Emulated {
            process: LambdaProcess::spawn(peer, command),
        }
    }

    fn invoke(&self, payload: impl Into<Vec<u8>>) -> Outcome {
        self.process.invoke(payload)
    }

    /// Invokes and returns the response, failing the test on an error answer.
    fn respond(&self, payload: impl Into<Vec<u8>>) -> Value {
        let outcome = self.invoke(payload);
        assert!(
            outcome.is_response(),
            "expected a response, got {:?} {}\n{}",
            outcome.error_type,
            outcome.body_text(),
            self.output_text()
        );
        outcome
            .json()
            .unwrap_or_else(|e| panic!("the response is not JSON ({e}): {}", outcome.body_text()))
    }

    fn assert_clean(&mut self) {
        let peer = &self.process.peer;
        assert!(
            peer.problems().is_empty() && peer.init_errors().is_empty(),
            "protocol problems {:?}, init errors {:?}\n{}",
            peer.problems(),
            peer.init_errors(),
            self.output_text()
        );
        if let Some(status) = self
            .process
            .child
            .try_wait()
            .expect("the process can be polled")
        {
            panic!("the function exited ({status})\n{}", self.output_text());
        }
    }

    fn output_text(&self) -> String {
        self.process.output_text()
    }

    /// Stops the process and returns everything it printed, read to the end of its pipes.
    fn finish(self) -> Vec<Line> {
        self.process.finish()
    }
}

/// Everything of a response but `workers`, which depends on the machine.
fn counts(response: &Value) -> Value {
    let mut response = response.clone();
    if let Some(object) = response.as_object_mut() {
        object.remove("workers");
    }
    response
}

fn read_event(name: &str) -> (Vec<u8>, Value) {
    let path = root().join("events").join(format!("{name}.json"));
    let expected = root().join("events").join(format!("{name}.expected.json"));
    let event = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let expected: Value = serde_json::from_slice(
        &fs::read(&expected).unwrap_or_else(|e| panic!("{}: {e}", expected.display())),
    )
    .expect("expected outputs are JSON");
    (event, expected)
}

// ---------------------------------------------------------------------------------------------
// A dataset
// ---------------------------------------------------------------------------------------------

/// `count` items as JSON texts, with their frequency as a number for the reference count:
/// integers, decimals, exponents, negatives, values at the threshold, and decoy `frequency`
/// members nested or inside strings that must not count.
fn dataset(count: usize) -> Vec<(String, f64)> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..count)
        .map(|id| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let pick = (state >> 33) % 25;
            let (literal, value) = match id % 7 {
                0 => (format!("{pick}"), pick as f64),
                1 => (format!("{pick}.5"), pick as f64 + 0.5),
                2 => (format!("{}e0", pick), pick as f64),
                3 => (format!("-{pick}"), -(pick as f64)),
                4 => ("10".to_string(), 10.0),
                5 => ("1.2e1".to_string(), 12.0),
                _ => (format!("{pick}"), pick as f64),
            };
            let item = if id % 5 == 0 {
                format!(
                    r#"{{"id":{id},"name":"item-{id} \"frequency\": 99","meta":{{"frequency":99}},"frequency":{literal}}}"#
                )
            } else {
                format!(r#"{{"id":{id},"name":"item-{id}","frequency":{literal}}}"#)
            };
            (item, value)
        })
        .collect()
}

fn expected_count(items: &[(String, f64)], threshold: f64) -> usize {
    items.iter().filter(|(_, f)| *f > threshold).count()
}

/// Splits items into batches as the template's ItemBatcher does: at most `MaxItemsPerBatch`
/// items, and at most `MaxInputBytesPerBatch` bytes of items.
fn batches<'a>(items: &'a [(String, f64)], map: &DistributedMap) -> Vec<&'a [(String, f64)]> {
    let (max_items, max_bytes) = (map.max_items_per_batch(), map.max_input_bytes_per_batch());
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 2);
    for (i, (item, _)) in items.iter().enumerate() {
        let size = item.len() + 1;
        if i > start && (i - start == max_items || bytes + size > max_bytes) {
            out.push(&items[start..i]);
            start = i;
            bytes = 2;
        }
        bytes += size;
    }
    if start < items.len() {
        out.push(&items[start..]);
    }
    out
}

/// The payload the Distributed Map sends for one batch.
fn batch_payload(items: &[(String, f64)], batch_input: &Value) -> Vec<u8> {
    let texts: Vec<&str> = items.iter().map(|(t, _)| t.as_str()).collect();
    format!(
        r#"{{"Items":[{}],"BatchInput":{}}}"#,
        texts.join(","),
        serde_json::to_string(batch_input).unwrap()
    )
    .into_bytes()
}

fn defaults() -> BTreeMap<&'static str, String> {
    BTreeMap::new()
}

// ---------------------------------------------------------------------------------------------
// The checks
// ---------------------------------------------------------------------------------------------

#[test]
fn cfn_lint_reports_nothing() {
    ensure_tools(&["cfn-lint"]);
    let output = venv_command("cfn-lint")
        .args(["--include-checks", "I", "--", "template.yaml"])
        .output()
        .expect("cfn-lint runs");
    assert!(
        output.status.success() && output.stdout.is_empty(),
        "cfn-lint reported findings ({}):\n{}",
        output.status,
        text(&output)
    );
}

/// cfn-lint does not look into a SAM state machine's `Definition`; the same definition, with
/// the substitutions CloudFormation makes at their defaults, is linted here as a plain
/// `AWS::StepFunctions::StateMachine`, whose definition cfn-lint checks against the states
/// language schema. The schema does not yet allow a JSONata `MaxConcurrency`, so that one field
/// is given the number its expression evaluates to.
#[test]
fn cfn_lint_accepts_the_state_machine_definition() {
    ensure_tools(&["cfn-lint"]);
    let map = distributed_map();
    let definition = &state_machine().1["Properties"]["Definition"];
    let substituted = map.substitute(&definition.to_string(), &defaults());
    let mut definition: Value =
        serde_json::from_str(&substituted).expect("the substituted definition is JSON");
    let start = definition["StartAt"].as_str().unwrap().to_string();
    let concurrency = map.expression(&map.map["MaxConcurrency"], &defaults());
    let concurrency: u64 = concurrency.trim().parse().unwrap_or_else(|_| {
        panic!("MaxConcurrency is a number under its JSONata braces: {concurrency}")
    });
    definition["States"][&start]["MaxConcurrency"] = json!(concurrency);

    let lint = |definition: &Value, name: &str| -> Output {
        let template = json!({
            "AWSTemplateFormatVersion": "2010-09-09",
            "Resources": {
                "Role": {
                    "Type": "AWS::IAM::Role",
                    "Properties": {
                        "AssumeRolePolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [{
                                "Effect": "Allow",
                                "Principal": {"Service": "states.amazonaws.com"},
                                "Action": "sts:AssumeRole"
                            }]
                        }
                    }
                },
                "StateMachine": {
                    "Type": "AWS::StepFunctions::StateMachine",
                    "Properties": {
                        "RoleArn": {"Fn::GetAtt": ["Role", "Arn"]},
                        "Definition": definition
                    }
                }
            }
        });
        let path = scratch_dir().join(format!("{name}-{}.json", std::process::id()));
        fs::write(&path, serde_json::to_vec_pretty(&template).unwrap()).unwrap();
        let output = venv_command("cfn-lint")
            .arg("--")
            .arg(&path)
            .output()
            .expect("cfn-lint runs");
        let _ = fs::remove_file(&path);
        output
    };

    let output = lint(&definition, "state-machine");
    assert!(
        output.status.success() && output.stdout.is_empty(),
        "cfn-lint finds fault with the state machine definition:\n{}",
        text(&output)
    );

    // The same lint sees a broken definition: the check above is not vacuous.
    let mut broken = definition.clone();
    broken["States"][&start]["Type"] = json!("Mapp");
    let output = lint(&broken, "state-machine-broken");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("E3601"),
        "cfn-lint did not notice a state of type Mapp:\n{}",
        text(&output)
    );
}

#[test]
fn sam_validate_lint_passes_without_credentials() {
    ensure_tools(&["aws-sam-cli"]);
    let output = venv_command("sam")
        .args(["validate", "--lint", "--template-file", "template.yaml"])
        .output()
        .expect("sam runs");
    let all = text(&output);
    assert!(
        output.status.success() && all.contains("is a valid SAM Template"),
        "sam validate --lint failed ({}):\n{all}",
        output.status
    );
}

#[test]
fn template_invariants() {
    let (_, function) = function();
    let properties = &function["Properties"];

    // What runs, and how it is built.
    assert_eq!(properties["Runtime"], "provided.al2023");
    assert_eq!(properties["Handler"], "bootstrap");
    assert_eq!(properties["Architectures"], json!(["arm64"]));
    assert_eq!(
        properties["CodeUri"], ".",
        "CodeUri is the crate at the top level"
    );
    assert_eq!(function["Metadata"]["BuildMethod"], "rust-cargolambda");
    assert_eq!(
        function["Metadata"]["BuildProperties"]["Binary"],
        env!("CARGO_PKG_NAME"),
        "sam build picks this package's binary even beside other binaries of the workspace"
    );

    // Logs: JSON lines, the level a parameter, an explicit log group with a retention.
    let logging = &properties["LoggingConfig"];
    assert_eq!(logging["LogFormat"], "JSON");
    let level = ref_parameter(&logging["ApplicationLogLevel"]).expect("the level is a parameter");
    let levels = parameter(level)["AllowedValues"].as_array().unwrap();
    for value in levels {
        assert!(
            ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"].contains(&value.as_str().unwrap()),
            "{value} is not an application log level"
        );
    }
    let log_group_id = logging["LogGroup"]["Ref"]
        .as_str()
        .expect("LoggingConfig.LogGroup refers to the template's log group");
    let log_group = resource(log_group_id);
    assert_eq!(log_group["Type"], "AWS::Logs::LogGroup");
    let retention = &log_group["Properties"]["RetentionInDays"];
    let days = match ref_parameter(retention) {
        Some(name) => parameter_default(name),
        None => retention.to_string(),
    };
    assert!(
        days.parse::<u32>().is_ok_and(|d| d > 0),
        "the log group keeps lines for a set number of days, not forever: {retention}"
    );

    // Configuration: every value the template can pass is one the function accepts.
    let memory = ref_parameter(&properties["MemorySize"]).expect("the memory size is a parameter");
    let memory = parameter(memory);
    let (min, max) = (
        memory["MinValue"].as_u64().unwrap(),
        memory["MaxValue"].as_u64().unwrap(),
    );
    assert!(
        min >= 128 && max <= 10_240,
        "Lambda's memory range is 128..=10240 MB"
    );
    let timeout = parameter(ref_parameter(&properties["Timeout"]).expect("a timeout parameter"));
    assert!(
        timeout["MinValue"].as_u64().unwrap() >= 1 && timeout["MaxValue"].as_u64().unwrap() <= 900
    );
    let variables = &properties["Environment"]["Variables"];
    assert_eq!(
        ref_parameter(&variables["FREQUENCY_THRESHOLD"]),
        Some("FrequencyThreshold")
    );
    let workers_values: Vec<String> = parameter("MaxWorkers")["AllowedValues"]
        .as_array()
        .expect("MaxWorkers lists its values")
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(parameter_default("MaxWorkers"), "", "automatic by default");
    for workers in &workers_values {
        for megabytes in [
            min.to_string(),
            parameter_default("MemorySize"),
            max.to_string(),
        ] {
            let values = BTreeMap::from([
                ("MaxWorkers", workers.clone()),
                ("MemorySize", megabytes.clone()),
            ]);
            let env: BTreeMap<String, String> = function_environment(&values).into_iter().collect();
            if workers.is_empty() {
                assert!(
                    !env.contains_key("MAX_WORKERS"),
                    "automatic leaves MAX_WORKERS unset"
                );
            } else {
                assert_eq!(env.get("MAX_WORKERS"), Some(workers));
            }
            let config = frequency_fanout::Config::from_lookup(|name| env.get(name).cloned());
            let config = config.unwrap_or_else(|e| panic!("{env:?} is refused: {e}"));
            if workers.is_empty() {
                let mb: u64 = megabytes.parse().unwrap();
                assert_eq!(
                    config.workers,
                    frequency_fanout::config::workers_for_memory(
                        mb,
                        std::thread::available_parallelism().map_or(1, |n| n.get())
                    )
                );
            }
        }
    }
    for threshold in [
        parameter_default("FrequencyThreshold"),
        "2.5".into(),
        "-1e3".into(),
    ] {
        let env = BTreeMap::from([("FREQUENCY_THRESHOLD".to_string(), threshold.clone())]);
        assert!(
            frequency_fanout::Config::from_lookup(|name| env.get(name).cloned()).is_ok(),
            "FREQUENCY_THRESHOLD={threshold} is refused"
        );
    }

    // Reserved concurrency only when asked for.
    let reserved = &properties["ReservedConcurrentExecutions"];
    let mut values = defaults();
    assert_eq!(
        resolve(reserved, &values),
        None,
        "no reserved concurrency by default"
    );
    values.insert("ReservedConcurrency", "25".into());
    assert_eq!(resolve(reserved, &values).as_deref(), Some("25"));

    // The function URL: IAM by default; public only when FunctionUrlAuthType says NONE.
    let (url_id, url) = the_one("AWS::Lambda::Url");
    assert_eq!(url["Properties"]["TargetFunctionArn"], function_arn());
    let auth = ref_parameter(&url["Properties"]["AuthType"]).expect("the auth type is a parameter");
    assert_eq!(parameter_default(auth), "AWS_IAM");
    assert_eq!(parameter(auth)["AllowedValues"], json!(["AWS_IAM", "NONE"]));
    let public = BTreeMap::from([(auth, "NONE".to_string())]);
    for (id, permission) in resources_of_type("AWS::Lambda::Permission") {
        let p = &permission["Properties"];
        if p["Principal"] != "*" {
            continue;
        }
        let condition_name = permission["Condition"]
            .as_str()
            .unwrap_or_else(|| panic!("{id} grants everyone, unconditionally"));
        assert!(
            !condition(condition_name, &defaults()),
            "{id} is public by default"
        );
        assert!(condition(condition_name, &public), "{id} never applies");
        match p["Action"].as_str() {
            Some("lambda:InvokeFunctionUrl") => {
                assert_eq!(p["FunctionUrlAuthType"], "NONE", "{id}")
            }
            Some("lambda:InvokeFunction") => {
                assert_eq!(
                    p["InvokedViaFunctionUrl"], true,
                    "{id} is for calls through the URL only"
                )
            }
            other => panic!("{id} grants everyone {other:?}"),
        }
    }

    // Outputs.
    let outputs = &template()["Outputs"];
    assert_eq!(outputs["FunctionArn"]["Value"], function_arn());
    assert_eq!(
        outputs["FunctionUrl"]["Value"],
        json!({"Fn::GetAtt": [url_id, "FunctionUrl"]})
    );

    // Roles: written out, never a managed policy (AWSLambdaBasicExecutionRole grants logs on
    // every resource) nor SAM's generated ones. The one exception is the role Lambda assumes to
    // run the EC2 instances of Lambda Managed Instances, which has the managed policy AWS
    // documents for it, and exists only with them.
    for (_, each) in [self::function(), managed_function()] {
        assert!(
            each["Properties"]["Role"].get("Fn::GetAtt").is_some(),
            "the function's role is the template's"
        );
        assert!(each["Properties"].get("Policies").is_none());
    }
    let operator_role = operator_role_id();
    for (id, role) in resources_of_type("AWS::IAM::Role") {
        if id == operator_role {
            assert_eq!(
                role["Properties"]["ManagedPolicyArns"],
                json!([{ "Fn::Sub": OPERATOR_POLICY_ARN }]),
                "{id} has the operator policy and nothing else"
            );
            assert!(role["Properties"].get("Policies").is_none());
            assert_eq!(role["Condition"], managed_condition());
            continue;
        }
        assert!(
            role["Properties"].get("ManagedPolicyArns").is_none(),
            "{id} attaches a managed policy"
        );
    }

    // No wildcard permission: no `*` in any action, and in a resource only where the grant
    // covers the children of one resource of this template, whose names are made up at run
    // time (Lambda's log streams, the dataset's objects, the map run's child executions).
    let (state_machine_id, _) = state_machine();
    let children: BTreeSet<String> = [
        format!("arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:${{{log_group_id}}}:*"),
        "arn:${AWS::Partition}:s3:::${DatasetBucketName}/*".to_string(),
        format!("arn:${{AWS::Partition}}:states:${{AWS::Region}}:${{AWS::AccountId}}:execution:${{{state_machine_id}.Name}}/*"),
    ]
    .into();
    let statements = policy_statements();
    assert!(
        statements.len() >= 5,
        "expected the function's and the state machine's grants"
    );
    let mut used_children = BTreeSet::new();
    for (place, statement) in &statements {
        assert_eq!(statement["Effect"], "Allow", "{place}");
        assert!(
            statement.get("NotAction").is_none() && statement.get("NotResource").is_none(),
            "{place}: NotAction/NotResource grant everything else"
        );
        for action in statement_strings(&statement["Action"]) {
            assert!(!action.contains('*'), "{place}: wildcard action {action}");
        }
        let resources = statement_strings(&statement["Resource"]);
        assert!(!resources.is_empty(), "{place}: no Resource");
        for resource in resources {
            if resource.contains('*') {
                assert!(
                    children.contains(&resource),
                    "{place}: wildcard resource {resource} (allowed only: {children:#?})"
                );
                used_children.insert(resource);
            }
        }
    }

    // The dataset state machine: only with a bucket; reads that bucket, invokes this function,
    // starts its own children.
    let has_dataset = state_machine().1["Condition"]
        .as_str()
        .expect("the state machine is conditional");
    assert!(
        !condition(has_dataset, &defaults()),
        "no state machine without a bucket"
    );
    let with_bucket = BTreeMap::from([("DatasetBucketName", EXAMPLE_BUCKET.to_string())]);
    assert!(condition(has_dataset, &with_bucket));
    let role_id = state_machine().1["Properties"]["Role"]["Fn::GetAtt"][0]
        .as_str()
        .expect("the state machine's role is the template's");
    for id in [role_id, state_machine_id] {
        assert_eq!(resource(id)["Condition"], has_dataset, "{id}");
    }
    let mut granted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (place, statement) in &statements {
        let belongs = place.starts_with(&format!("{role_id}/"))
            || resources()
                .get(place.as_str())
                .is_some_and(|r| r["Properties"]["RoleName"] == json!({"Ref": role_id}));
        if !belongs {
            continue;
        }
        for action in statement_strings(&statement["Action"]) {
            granted
                .entry(action)
                .or_default()
                .extend(statement_strings(&statement["Resource"]));
        }
    }
    let expected: BTreeMap<String, BTreeSet<String>> = [
        ("s3:GetObject", vec!["arn:${AWS::Partition}:s3:::${DatasetBucketName}/*".to_string()]),
        ("lambda:InvokeFunction", vec![function_arn().to_string()]),
        ("states:StartExecution", vec![json!({"Ref": state_machine_id}).to_string()]),
        ("states:DescribeExecution", vec![format!("arn:${{AWS::Partition}}:states:${{AWS::Region}}:${{AWS::AccountId}}:execution:${{{state_machine_id}.Name}}/*")]),
        ("states:StopExecution", vec![format!("arn:${{AWS::Partition}}:states:${{AWS::Region}}:${{AWS::AccountId}}:execution:${{{state_machine_id}.Name}}/*")]),
    ]
    .into_iter()
    .map(|(action, resources)| (action.to_string(), resources.into_iter().collect()))
    .collect();
    assert_eq!(granted, expected, "the state machine's grants");
    assert_eq!(
        used_children, children,
        "every allowed wildcard is one the template needs"
    );

    // The definition: a JSONata Distributed Map over the bucket's file.
    let definition = &state_machine().1["Properties"]["Definition"];
    assert_eq!(definition["QueryLanguage"], "JSONata");
    let map = distributed_map();
    assert_eq!(
        map.map["ItemProcessor"]["ProcessorConfig"]["Mode"],
        "DISTRIBUTED"
    );
    let reader = &map.map["ItemReader"];
    assert_eq!(reader["Resource"], "arn:aws:states:::s3:getObject");
    assert_eq!(reader["Arguments"]["Bucket"], "${DatasetBucketName}");
    assert_eq!(
        map.substitutions["DatasetBucketName"],
        json!({"Ref": "DatasetBucketName"})
    );
    assert_eq!(reader["ReaderConfig"]["InputType"], "${DatasetInputType}");
    let input_type = ref_parameter(&map.substitutions["DatasetInputType"]).unwrap();
    assert_eq!(
        parameter(input_type)["AllowedValues"],
        json!(["JSON", "JSONL"])
    );
    assert_eq!(map.task["Resource"], "arn:aws:states:::lambda:invoke");
    assert_eq!(map.task["Arguments"]["FunctionName"], "${FunctionArn}");
    assert_eq!(map.substitutions["FunctionArn"], function_arn());
    assert_eq!(
        map.task["Arguments"]["Payload"], "{% $states.input %}",
        "the batch as it is"
    );
    // A rejected batch fails the same way every time: retrying it only costs.
    for retrier in map.task["Retry"].as_array().into_iter().flatten() {
        for error in retrier["ErrorEquals"].as_array().unwrap() {
            let error = error.as_str().unwrap();
            assert!(
                error.starts_with("Lambda."),
                "Retry covers {error}, which includes the function's own rejections"
            );
        }
    }
    // Bounded concurrency, from a parameter.
    assert_eq!(map.map["MaxConcurrency"], "{% ${MapMaxConcurrency} %}");
    let concurrency = parameter(ref_parameter(&map.substitutions["MapMaxConcurrency"]).unwrap());
    assert!(concurrency["MinValue"].as_u64().unwrap() >= 1);
    assert!(
        concurrency["MaxValue"].as_u64().unwrap() <= 10_000,
        "Distributed Map's ceiling"
    );
    // Batches under the state limit, with room for BatchInput.
    assert!(map.max_items_per_batch() >= 1);
    assert!(map.max_input_bytes_per_batch() + 4 * 1024 <= STATE_LIMIT_BYTES);
    assert!(map.map["ItemBatcher"]["BatchInput"]
        .get("threshold")
        .is_some());
    // Every placeholder is substituted, and every substitution is used.
    let written = definition.to_string();
    for name in map.substitutions.keys() {
        assert!(
            written.contains(&format!("${{{name}}}")),
            "substitution {name} is unused"
        );
    }
    map.substitute(&written, &defaults());
}

/// Without the network parameters the stack is the standard one: the function on standard
/// Lambda, and nothing of Lambda Managed Instances. Naming only one of the two is refused.
#[test]
fn managed_instances_are_off_without_the_network_parameters() {
    let (function_id, function) = function();
    let (managed_id, _) = managed_function();
    let (provider_id, _) = capacity_provider();
    let operator_role = operator_role_id();
    let managed = managed_condition();

    // Everything of Lambda Managed Instances hangs on one condition, the standard function on
    // its opposite.
    for id in [managed_id, provider_id, operator_role] {
        assert_eq!(resource(id)["Condition"], managed, "{id}");
    }
    let standard = function["Condition"]
        .as_str()
        .expect("the standard function is conditional");
    for values in [defaults(), managed_values()] {
        assert_ne!(
            condition(standard, &values),
            condition(managed, &values),
            "exactly one of the two functions exists ({values:?})"
        );
    }
    assert!(parameter_default("ManagedInstancesSubnetIds").is_empty());
    assert!(parameter_default("ManagedInstancesSecurityGroupIds").is_empty());
    assert!(!condition(managed, &defaults()));

    // The stack CloudFormation deploys with the defaults.
    let deployed = resolved_template(&defaults());
    let resources = deployed["Resources"].as_object().unwrap();
    for kind in [
        "AWS::Lambda::CapacityProvider",
        "AWS::Serverless::CapacityProvider",
    ] {
        assert!(
            !resources.values().any(|r| r["Type"] == kind),
            "a {kind} exists without the network parameters"
        );
    }
    for id in [managed_id, provider_id, operator_role] {
        assert!(!resources.contains_key(id), "{id} exists by default");
    }
    let functions: Vec<&String> = resources
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .map(|(id, _)| id)
        .collect();
    assert_eq!(functions, [function_id]);
    let deployed_function = &resources[function_id]["Properties"];
    for property in [
        "CapacityProviderConfig",
        "PublishToLatestPublished",
        "FunctionScalingConfig",
    ] {
        assert!(
            deployed_function.get(property).is_none(),
            "the standard function has {property}"
        );
    }
    // Every use of the function is of the standard one.
    assert_every_use_is_of(&defaults(), function_id);
    assert!(deployed["Outputs"].get("CapacityProviderArn").is_none());

    // One network parameter without the other would silently deploy standard Lambda: the
    // template refuses it instead.
    let network_rule = "ManagedInstancesNetwork";
    assert!(rule_holds(network_rule, &defaults()));
    assert!(rule_holds(network_rule, &managed_values()));
    for (name, value) in managed_values() {
        let half = BTreeMap::from([(name, value)]);
        assert!(!condition(managed, &half), "{name} alone turns them on");
        assert!(!rule_holds(network_rule, &half), "{name} alone is accepted");
    }
}

/// With the network parameters, an arm64 capacity provider in those subnets runs the function,
/// and each parameter reaches the property it names.
#[test]
fn managed_instances_wire_the_capacity_provider_to_the_function() {
    let values = managed_values();
    let (function_id, function) = function();
    let (managed_id, managed) = managed_function();
    let (provider_id, provider) = capacity_provider();
    let operator_role = operator_role_id();
    assert!(condition(managed_condition(), &values));

    let deployed = resolved_template(&values);
    let resources = deployed["Resources"].as_object().unwrap();
    let functions: Vec<&String> = resources
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .map(|(id, _)| id)
        .collect();
    assert_eq!(functions, [managed_id], "only the managed function exists");
    for id in [provider_id, operator_role] {
        assert!(resources.contains_key(id), "{id} is missing");
    }
    assert_every_use_is_of(&values, managed_id);
    assert_eq!(
        deployed["Outputs"]["CapacityProviderArn"]["Value"],
        json!({"Fn::GetAtt": [provider_id, "Arn"]})
    );

    // The capacity provider: arm64 instances, in the subnets and security groups named.
    let provider = &provider["Properties"];
    assert_eq!(
        provider["InstanceRequirements"]["Architectures"],
        json!(["arm64"])
    );
    assert_eq!(managed["Properties"]["Architectures"], json!(["arm64"]));
    let network = &provider["VpcConfig"];
    assert_eq!(
        ref_parameter(&network["SubnetIds"]),
        Some("ManagedInstancesSubnetIds")
    );
    assert_eq!(
        ref_parameter(&network["SecurityGroupIds"]),
        Some("ManagedInstancesSecurityGroupIds")
    );
    for name in [
        "ManagedInstancesSubnetIds",
        "ManagedInstancesSecurityGroupIds",
    ] {
        assert_eq!(parameter(name)["Type"], "CommaDelimitedList", "{name}");
    }
    let joined = |name: &str| scalar(&json!({"Fn::Join": [",", {"Ref": name}]}), &values);
    assert_eq!(joined("ManagedInstancesSubnetIds"), EXAMPLE_SUBNETS);
    assert_eq!(
        joined("ManagedInstancesSecurityGroupIds"),
        EXAMPLE_SECURITY_GROUPS
    );
    // Its EC2 bill has a ceiling, from a parameter within the provider's range.
    let max_vcpus = &provider["CapacityProviderScalingConfig"]["MaxVCpuCount"];
    let max_vcpus = parameter(ref_parameter(max_vcpus).expect("MaxVCpuCount is a parameter"));
    assert!(max_vcpus["MinValue"].as_u64().unwrap() >= 2);
    assert!(max_vcpus["MaxValue"].as_u64().unwrap() <= 15_000);

    // The operator role: Lambda may assume it, with the managed policy AWS documents.
    assert_eq!(
        provider["PermissionsConfig"]["CapacityProviderOperatorRoleArn"],
        json!({"Fn::GetAtt": [operator_role, "Arn"]})
    );
    let trust = &resource(operator_role)["Properties"]["AssumeRolePolicyDocument"]["Statement"];
    assert_eq!(
        trust,
        &json!([{
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole"
        }])
    );

    // The function on the capacity provider, configured by the parameters.
    let properties = &managed["Properties"];
    let config = &properties["CapacityProviderConfig"];
    assert_eq!(config["Arn"], json!({"Fn::GetAtt": [provider_id, "Arn"]}));
    assert_eq!(
        ref_parameter(&config["ExecutionEnvironmentMemoryGiBPerVCpu"]),
        Some("ManagedInstancesMemoryPerVCpu")
    );
    assert_eq!(
        ref_parameter(&config["PerExecutionEnvironmentMaxConcurrency"]),
        Some("ManagedInstancesMaxConcurrency")
    );
    // Unqualified invocations (the function URL, the state machine) run $LATEST.PUBLISHED:
    // republished on every update.
    assert_eq!(properties["PublishToLatestPublished"], true);
    // Lambda Managed Instances take JSON logs only.
    assert_eq!(properties["LoggingConfig"]["LogFormat"], "JSON");
    let concurrency = parameter("ManagedInstancesMaxConcurrency");
    assert!(concurrency["MinValue"].as_u64().unwrap() >= 1);
    assert!(concurrency["MaxValue"].as_u64().unwrap() <= 1600);
    let ratios: Vec<&str> = parameter("ManagedInstancesMemoryPerVCpu")["AllowedValues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        ratios,
        ["2", "4", "8"],
        "the ratios Lambda Managed Instances offer"
    );
    let vcpu_counts: Vec<&str> = parameter("ManagedInstancesVCpus")["AllowedValues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();

    // Every size the parameters allow is one Lambda accepts, or one the template refuses before
    // creating anything: memory = vCPUs x GiB per vCPU, 2 to 32 GiB. The pool is as wide as the
    // environment's vCPUs unless MaxWorkers says otherwise, and the function accepts that
    // environment.
    let size_rule = "ManagedInstancesEnvironmentSize";
    let mut accepted = 0;
    for ratio in &ratios {
        for vcpus in &vcpu_counts {
            let mut values = managed_values();
            values.insert("ManagedInstancesMemoryPerVCpu", ratio.to_string());
            values.insert("ManagedInstancesVCpus", vcpus.to_string());
            let megabytes = ratio.parse::<u64>().unwrap() * vcpus.parse::<u64>().unwrap() * 1024;
            let fits = megabytes <= MANAGED_MAX_MEMORY_MB;
            assert_eq!(
                rule_holds(size_rule, &values),
                fits,
                "{vcpus} vCPUs at {ratio} GiB each"
            );
            if !fits {
                continue;
            }
            accepted += 1;
            assert!(megabytes >= MANAGED_MIN_MEMORY_MB);
            let env: BTreeMap<String, String> =
                environment_of(managed, &values).into_iter().collect();
            assert_eq!(
                env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"],
                megabytes.to_string()
            );
            assert_eq!(env.get("MAX_WORKERS"), Some(&vcpus.to_string()));
            let config = frequency_fanout::Config::from_lookup(|name| env.get(name).cloned())
                .unwrap_or_else(|e| panic!("{env:?} is refused: {e}"));
            assert_eq!(config.workers.to_string(), *vcpus);
        }
    }
    assert!(accepted >= ratios.len(), "every ratio has a size");
    for (name, value) in [("MaxWorkers", "3"), ("MaxWorkers", "")] {
        let mut values = managed_values();
        values.insert(name, value.to_string());
        let env: BTreeMap<String, String> = environment_of(managed, &values).into_iter().collect();
        let expected = if value.is_empty() {
            parameter_default("ManagedInstancesVCpus")
        } else {
            value.to_string()
        };
        assert_eq!(
            env.get("MAX_WORKERS"),
            Some(&expected),
            "MaxWorkers={value:?}"
        );
    }
    // The defaults are one of the sizes Lambda accepts.
    assert!(rule_holds(size_rule, &managed_values()));

    // What Lambda tells the function there: its concurrency, its memory.
    let env: BTreeMap<String, String> = environment_of(managed, &values).into_iter().collect();
    assert_eq!(
        env["AWS_LAMBDA_MAX_CONCURRENCY"],
        parameter_default("ManagedInstancesMaxConcurrency")
    );

    // Otherwise the two functions are the same function.
    let mut standard = function.clone();
    let mut on_instances = managed.clone();
    for f in [&mut standard, &mut on_instances] {
        let object = f.as_object_mut().unwrap();
        object.remove("Condition");
        let properties = object["Properties"].as_object_mut().unwrap();
        for differs in [
            "MemorySize",
            "CapacityProviderConfig",
            "PublishToLatestPublished",
        ] {
            properties.remove(differs);
        }
        properties["Environment"]["Variables"]
            .as_object_mut()
            .unwrap()
            .remove("MAX_WORKERS");
    }
    assert_eq!(
        standard, on_instances,
        "{function_id} and {managed_id} differ beyond memory, pool width and capacity provider"
    );
}

/// Every use of the function in the stack deployed with `values` (and with every optional use
/// turned on: a public function URL, a dataset bucket) is of `function_id`, and nothing
/// mentions the other function.
fn assert_every_use_is_of(values: &BTreeMap<&str, String>, function_id: &str) {
    let mut values = values.clone();
    values.insert("FunctionUrlAuthType", "NONE".to_string());
    values.insert("DatasetBucketName", EXAMPLE_BUCKET.to_string());
    let deployed = resolved_template(&values);
    let arn = json!({"Fn::GetAtt": [function_id, "Arn"]});
    let resources = &deployed["Resources"];

    let (url_id, _) = the_one("AWS::Lambda::Url");
    assert_eq!(resources[url_id]["Properties"]["TargetFunctionArn"], arn);
    assert_eq!(deployed["Outputs"]["FunctionArn"]["Value"], arn);
    let (state_machine_id, state_machine) = state_machine();
    assert_eq!(
        resources[state_machine_id]["Properties"]["DefinitionSubstitutions"]["FunctionArn"],
        arn
    );
    let role_id = state_machine["Properties"]["Role"]["Fn::GetAtt"][0]
        .as_str()
        .unwrap();
    let invokes: Vec<&Value> = resources[role_id]["Properties"]["Policies"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["PolicyDocument"]["Statement"].as_array().unwrap())
        .filter(|statement| statement["Action"] == "lambda:InvokeFunction")
        .map(|statement| &statement["Resource"])
        .collect();
    assert_eq!(invokes, [&arn], "the state machine invokes {function_id}");
    let permissions: Vec<&Value> = resources
        .as_object()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::Lambda::Permission")
        .map(|r| &r["Properties"]["FunctionName"])
        .collect();
    assert_eq!(permissions.len(), 2, "a public URL has two grants");
    for name in permissions {
        assert_eq!(*name, json!({"Ref": function_id}));
    }

    let other = if function_id == function().0 {
        managed_function().0
    } else {
        function().0
    };
    let written = deployed["Resources"].to_string() + &deployed["Outputs"].to_string();
    assert!(
        !written.contains(&format!("\"{other}\"")),
        "the stack of {function_id} mentions {other}"
    );
}

/// The template with the network parameters set, as CloudFormation deploys it, lints clean
/// with cfn-lint and `sam validate --lint`. (cfn-lint's `--parameters` does not reach a
/// template's resources through the SAM transform, and it checks parameter references only
/// where no condition is involved: the resolved template gives it both.)
#[test]
fn cfn_lint_and_sam_validate_accept_managed_instances() {
    ensure_tools(&["cfn-lint", "aws-sam-cli"]);
    let write = |template: &Value, name: &str| -> PathBuf {
        let path = scratch_dir().join(format!("{name}-{}.json", std::process::id()));
        fs::write(&path, serde_json::to_vec_pretty(template).unwrap()).unwrap();
        path
    };
    let deployed = resolved_template(&managed_values());
    let path = write(&deployed, "managed-instances");

    let output = venv_command("cfn-lint")
        .args(["--include-checks", "I", "--"])
        .arg(&path)
        .output()
        .expect("cfn-lint runs");
    assert!(
        output.status.success() && output.stdout.is_empty(),
        "cfn-lint reported findings on the Managed Instances stack ({}):\n{}",
        output.status,
        text(&output)
    );
    let output = venv_command("sam")
        .args(["validate", "--lint", "--template-file"])
        .arg(&path)
        .output()
        .expect("sam runs");
    let all = text(&output);
    assert!(
        output.status.success() && all.contains("is a valid SAM Template"),
        "sam validate --lint failed on the Managed Instances stack ({}):\n{all}",
        output.status
    );
    let _ = fs::remove_file(&path);

    // The same lint sees the network parameters' values: with subnets and security groups
    // swapped, it says so.
    let (provider_id, _) = capacity_provider();
    let mut swapped = deployed.clone();
    let network = &mut swapped["Resources"][provider_id]["Properties"]["VpcConfig"];
    let subnets = network["SubnetIds"].take();
    network["SubnetIds"] = network["SecurityGroupIds"].take();
    network["SecurityGroupIds"] = subnets;
    let path = write(&swapped, "managed-instances-swapped");
    let output = venv_command("cfn-lint")
        .arg("--")
        .arg(&path)
        .output()
        .expect("cfn-lint runs");
    let _ = fs::remove_file(&path);
    let findings = String::from_utf8_lossy(&output.stdout);
    assert!(
        findings.contains("does not match '^subnet-"),
        "cfn-lint did not notice security groups given as subnets:\n{}",
        text(&output)
    );
}

#[test]
fn sam_build_makes_an_aarch64_executable_for_al2023() {
    let bootstrap = built_bootstrap();
    let bytes = fs::read(bootstrap).expect("the bootstrap is readable");
    assert!(
        bytes.len() > 64,
        "the bootstrap is too short to be an executable"
    );
    assert_eq!(&bytes[..4], b"\x7fELF", "not an ELF file");
    assert_eq!(bytes[4], 2, "not a 64-bit ELF");
    assert_eq!(bytes[5], 1, "not little-endian");
    let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap()) as usize;
    let e_type = u16_at(16);
    assert!(
        e_type == 2 || e_type == 3,
        "e_type {e_type} is neither EXEC nor DYN"
    );
    assert_eq!(u16_at(18), EM_AARCH64, "e_machine is not AArch64");
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(
        root()
            .join(".aws-sam/build")
            .join(function().0)
            .join("bootstrap"),
    )
    .unwrap()
    .permissions()
    .mode();
    assert!(
        mode & 0o111 != 0,
        "the built bootstrap is not executable ({mode:o})"
    );

    // The loader it asks for is the one of aarch64 glibc systems.
    let (phoff, phentsize, phnum) = (u64_at(32), u16_at(54) as usize, u16_at(56) as usize);
    let mut interpreter = None;
    for i in 0..phnum {
        let header = phoff + i * phentsize;
        if u32_at(header) == 3 {
            let (offset, size) = (u64_at(header + 8), u64_at(header + 32));
            let text = &bytes[offset..offset + size];
            interpreter = Some(
                String::from_utf8_lossy(text)
                    .trim_end_matches('\0')
                    .to_string(),
            );
        }
    }
    assert_eq!(interpreter.as_deref(), Some(AARCH64_LOADER));

    // No glibc symbol newer than Amazon Linux 2023's.
    let mut newest = (0, 0);
    let needle = b"GLIBC_2.";
    for at in 0..bytes.len().saturating_sub(needle.len()) {
        if &bytes[at..at + needle.len()] != needle {
            continue;
        }
        let digits: String = bytes[at + needle.len()..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .map(|&b| b as char)
            .collect();
        if let Ok(minor) = digits.parse::<u32>() {
            newest = newest.max((2, minor));
        }
    }
    assert!(newest > (2, 0), "no glibc symbol versions found");
    assert!(
        newest <= AL2023_GLIBC,
        "the bootstrap needs GLIBC_{}.{}, newer than Amazon Linux 2023's {}.{}",
        newest.0,
        newest.1,
        AL2023_GLIBC.0,
        AL2023_GLIBC.1
    );
    eprintln!(
        "bootstrap: aarch64 ELF, {} bytes, newest glibc symbol GLIBC_2.{}",
        bytes.len(),
        newest.1
    );
}

#[test]
fn the_built_bootstrap_answers_under_qemu() {
    let mut function = Emulated::start(&defaults());
    let memory: u64 = parameter_default("MemorySize").parse().unwrap();

    // A direct event.
    let (event, expected) = read_event("basic");
    let response = function.respond(event);
    assert_eq!(counts(&response), counts(&expected));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(
        response["workers"],
        frequency_fanout::config::workers_for_memory(memory, cores),
        "the pool's width follows the template's default memory size"
    );

    // A Step Functions batch.
    let (event, expected) = read_event("step_functions_batch");
    assert_eq!(counts(&function.respond(event)), counts(&expected));

    // A rejected event: the invocation fails with the function's errorType and message.
    let (event, expected) = read_event("rejected/frequency_string");
    let outcome = function.invoke(event);
    assert!(
        outcome.is_error(),
        "expected an error, got {}",
        outcome.body_text()
    );
    assert_eq!(outcome.error_type.as_deref(), Some("InvalidEvent"));
    assert_eq!(outcome.json().expect("the error object is JSON"), expected);

    // A request through the function URL (payload format 2.0), as Lambda delivers it.
    let body = r#"{"items": [{"frequency": 11}, {"frequency": 10}, {"frequency": 10.01}], "threshold": 10}"#;
    let request = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "abc.lambda-url.us-east-1.on.aws"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc",
            "domainName": "abc.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abc",
            "http": {"method": "POST", "path": "/", "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "curl/8"},
            "requestId": "c0ffee00-0000-4000-8000-000000000000",
            "routeKey": "$default",
            "stage": "$default",
            "time": "25/Nov/2026:18:00:00 +0000",
            "timeEpoch": 1_795_630_800_000u64
        },
        "body": body,
        "isBase64Encoded": false
    });
    let reply = function.respond(serde_json::to_vec(&request).unwrap());
    assert_eq!(reply["statusCode"], 200, "{reply}");
    let answer: Value = serde_json::from_str(reply["body"].as_str().expect("a body")).unwrap();
    assert_eq!(answer["high_frequency_count"], 2);
    assert_eq!(answer["total_items"], 3);

    // A large event, at the default memory size.
    let items = dataset(12_000);
    let texts: Vec<&str> = items.iter().map(|(t, _)| t.as_str()).collect();
    let event = format!(r#"{{"items":[{}],"threshold":12}}"#, texts.join(","));
    let response = function.respond(event.clone());
    assert_eq!(
        response["high_frequency_count"],
        expected_count(&items, 12.0)
    );
    assert_eq!(response["total_items"], items.len());
    function.assert_clean();
    // LogFormat JSON: log lines are JSON objects with a level, which is what lets Lambda
    // filter them by ApplicationLogLevel.
    let lines = function.finish();
    let leveled = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(&l.text).ok())
        .filter(|line| line.get("level").is_some_and(Value::is_string))
        .count();
    assert!(
        leveled > 0,
        "no JSON log line with a level\n{}",
        text_of(&lines)
    );

    // The same event parsed on the pool at the width two vCPUs' worth of memory buys.
    let wide = BTreeMap::from([("MemorySize", "3538".to_string())]);
    let mut function = Emulated::start(&wide);
    let response = function.respond(event);
    assert_eq!(
        response["workers"],
        frequency_fanout::config::workers_for_memory(3538, cores)
    );
    assert_eq!(
        response["high_frequency_count"],
        expected_count(&items, 12.0)
    );
    function.assert_clean();
}

/// The built bootstrap serves under the environment Lambda Managed Instances give it with the
/// template's defaults: the memory of the environment, the pool as wide as its vCPUs, the
/// concurrency per environment and the initialization type Lambda sets there.
#[test]
fn the_built_bootstrap_answers_under_qemu_as_managed_instances_configure_it() {
    let values = managed_values();
    let environment = environment_of(managed_function().1, &values);
    let mut function = Emulated::with_environment(environment);
    let vcpus: usize = parameter_default("ManagedInstancesVCpus").parse().unwrap();

    let (event, expected) = read_event("basic");
    let response = function.respond(event);
    assert_eq!(counts(&response), counts(&expected));
    assert_eq!(
        response["workers"], vcpus,
        "the pool is as wide as the vCPUs"
    );

    let items = dataset(12_000);
    let texts: Vec<&str> = items.iter().map(|(t, _)| t.as_str()).collect();
    let event = format!(r#"{{"items":[{}],"threshold":12}}"#, texts.join(","));
    let response = function.respond(event);
    assert_eq!(
        response["high_frequency_count"],
        expected_count(&items, 12.0)
    );
    assert_eq!(response["total_items"], items.len());
    assert_eq!(response["workers"], vcpus);
    function.assert_clean();
}

/// Batches as the Distributed Map sends them go through the built function, and the template's
/// reducer, evaluated by the reference JSONata implementation over the real answers, gives the
/// totals of one invocation over every item.
#[test]
fn distributed_map_batches_reduce_to_the_totals_of_one_invocation() {
    let map = distributed_map();
    let values = defaults();
    let batch_input = map.expressions(&map.map["ItemBatcher"]["BatchInput"], &values);
    let task_output = map.expressions(&map.task["Output"], &values);
    let map_output = map.expressions(&map.map["Output"], &values);
    let default_threshold: f64 = parameter_default("FrequencyThreshold").parse().unwrap();

    // 12,000 items are several batches at the template's byte limit.
    let items = dataset(12_000);
    let split = batches(&items, &map);
    assert!(
        split.len() >= 3,
        "expected several batches, got {}",
        split.len()
    );

    let mut function = Emulated::start(&values);
    for (execution_input, threshold) in [
        (json!({"key": "datasets/items.json", "threshold": 12}), 12.0),
        (json!({"key": "datasets/items.jsonl"}), default_threshold),
    ] {
        let states = json!({ "input": execution_input });
        let batch_input_value = jsonata_object(&batch_input, &states);
        assert_eq!(
            batch_input_value["threshold"].as_f64(),
            Some(threshold),
            "{execution_input}"
        );

        let mut results = Vec::new();
        for batch in &split {
            let payload = batch_payload(batch, &batch_input_value);
            assert!(
                payload.len() <= STATE_LIMIT_BYTES,
                "a batch of {} bytes is over the state limit",
                payload.len()
            );
            let response = function.respond(payload);
            assert_eq!(response["total_items"], batch.len());
            assert_eq!(
                response["high_frequency_count"],
                expected_count(batch, threshold)
            );
            // What the Task state makes of the lambda:invoke result.
            let result = json!({
                "ExecutedVersion": "$LATEST",
                "Payload": response,
                "StatusCode": 200
            });
            results.push(jsonata_object(
                &task_output,
                &json!({ "input": {}, "result": result }),
            ));
        }
        let reduced = jsonata_object(
            &map_output,
            &json!({ "input": execution_input, "result": results }),
        );

        let texts: Vec<&str> = items.iter().map(|(t, _)| t.as_str()).collect();
        let whole = format!(
            r#"{{"items":[{}],"threshold":{}}}"#,
            texts.join(","),
            serde_json::to_string(&batch_input_value["threshold"]).unwrap()
        );
        let one = function.respond(whole);
        assert_eq!(
            reduced["high_frequency_count"], one["high_frequency_count"],
            "{reduced}"
        );
        assert_eq!(reduced["total_items"], one["total_items"], "{reduced}");
        assert_eq!(
            one["high_frequency_count"],
            expected_count(&items, threshold)
        );
        eprintln!(
            "{} items in {} batches at threshold {threshold}: reduced {reduced}, one invocation {}",
            items.len(),
            split.len(),
            counts(&one)
        );
    }
    function.assert_clean();

    // An empty dataset: no batch, and the reducer still answers zeros.
    let reduced = jsonata_object(
        &map_output,
        &json!({ "input": {"key": "empty.json"}, "result": [] }),
    );
    assert_eq!(reduced["high_frequency_count"], 0, "{reduced}");
    assert_eq!(reduced["total_items"], 0, "{reduced}");
}

/// The largest batch the ItemBatcher allows, with its BatchInput, is a payload the function
/// accepts and that fits in one state.
#[test]
fn a_full_batch_fits_in_one_state_and_is_accepted() {
    let map = distributed_map();
    let max_bytes = map.max_input_bytes_per_batch();
    // Items of about 40 bytes until the byte limit is reached.
    let mut items = Vec::new();
    let mut bytes = 2;
    let mut id = 0;
    loop {
        let item = format!(r#"{{"id":{id},"frequency":{}}}"#, id % 23);
        if bytes + item.len() + 1 > max_bytes || items.len() == map.max_items_per_batch() {
            break;
        }
        bytes += item.len() + 1;
        items.push((item, (id % 23) as f64));
        id += 1;
    }
    let states = json!({ "input": {"key": "k", "threshold": 1.5e1} });
    let batch_input = jsonata_object(
        &map.expressions(&map.map["ItemBatcher"]["BatchInput"], &defaults()),
        &states,
    );
    let payload = batch_payload(&items, &batch_input);
    assert!(
        payload.len() <= STATE_LIMIT_BYTES,
        "a full batch is {} bytes, over the 256 KiB state limit",
        payload.len()
    );
    let mut function = Emulated::start(&defaults());
    let response = function.respond(payload);
    assert_eq!(response["total_items"], items.len());
    assert_eq!(
        response["high_frequency_count"],
        expected_count(&items, 15.0)
    );
    function.assert_clean();
}

/// Every tool these checks use is one `scripts/install-tools` installs.
#[test]
fn install_tools_knows_every_tool_these_checks_use() {
    let script = fs::read_to_string(root().join("scripts/install-tools"))
        .expect("scripts/install-tools exists");
    let known: HashSet<&str> = TOOLS.iter().map(|t| t.name).collect();
    for name in known {
        let function = format!("install_{}()", name.replace('-', "_"));
        assert!(
            script.contains(&function),
            "scripts/install-tools has no {function}"
        );
    }
}
