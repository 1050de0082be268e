# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_nbwarden_global_optspecs
    string join \n policy= policy-sha256= root= only= output= deadline= v/verbose q/quiet h/help V/version
end

function __fish_nbwarden_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_nbwarden_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_nbwarden_using_subcommand
    set -l cmd (__fish_nbwarden_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c nbwarden -n "__fish_nbwarden_needs_command" -l policy -d 'The policy: a file, s3://BUCKET/KEY, or ssm:/PARAMETER/NAME [default: the one /etc/nbwarden/lifecycle.env names, else /etc/nbwarden/policy.toml; for `lifecycle render`, the policy the scripts load: BUNDLE/policy.toml]' -r
complete -c nbwarden -n "__fish_nbwarden_needs_command" -l policy-sha256 -d 'Refuse the policy unless its bytes have this sha256 (hex)' -r
complete -c nbwarden -n "__fish_nbwarden_needs_command" -l root -d 'Operate on the tree at DIR instead of `/` (tests, image building)' -r -F
complete -c nbwarden -n "__fish_nbwarden_needs_command" -l only -d 'Run only these controls (comma-separated ids; shells complete them)' -r -f -a "sudo\t''
packages\t''
variables\t''
git\t''
environment\t''
jupyter\t''
agents\t''
cloudwatch\t''
permissions\t''
boot-exec\t''
egress\t''
control-plane\t''
rpm\t''
service\t''"
complete -c nbwarden -n "__fish_nbwarden_needs_command" -l output -d 'Report format on stdout' -r -f -a "human\t''
json\t''
junit\t''"
complete -c nbwarden -n "__fish_nbwarden_needs_command" -l deadline -d 'Time budget of the whole run (e.g. 90s, 4m)' -r
complete -c nbwarden -n "__fish_nbwarden_needs_command" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace)'
complete -c nbwarden -n "__fish_nbwarden_needs_command" -s q -l quiet -d 'Less log output on stderr (-q warnings, -qq errors only)'
complete -c nbwarden -n "__fish_nbwarden_needs_command" -s h -l help -d 'Print help'
complete -c nbwarden -n "__fish_nbwarden_needs_command" -s V -l version -d 'Print version'
complete -c nbwarden -n "__fish_nbwarden_needs_command" -f -a "apply" -d 'Converge the host to the policy; a second run changes nothing'
complete -c nbwarden -n "__fish_nbwarden_needs_command" -f -a "verify" -d 'Check every control; change nothing'
complete -c nbwarden -n "__fish_nbwarden_needs_command" -f -a "plan" -d 'Show what `apply` would change, as unified diffs'
complete -c nbwarden -n "__fish_nbwarden_needs_command" -f -a "status" -d 'Show the last run\'s result'
complete -c nbwarden -n "__fish_nbwarden_needs_command" -f -a "monitor" -d 'The long-running service: metrics, drift re-checks, idle auto-stop (`[monitoring]`)'
complete -c nbwarden -n "__fish_nbwarden_needs_command" -f -a "sudo" -d 'Admin commands of the sudo control'
complete -c nbwarden -n "__fish_nbwarden_needs_command" -f -a "lifecycle" -d 'Lifecycle configuration scripts for a bundle'
complete -c nbwarden -n "__fish_nbwarden_needs_command" -f -a "fleet" -d 'The fleet\'s reports in S3'
complete -c nbwarden -n "__fish_nbwarden_needs_command" -f -a "policy" -d 'Validate a policy or print its JSON Schema'
complete -c nbwarden -n "__fish_nbwarden_needs_command" -f -a "version" -d 'Print version, git commit, target and build date'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand apply" -l policy -d 'The policy: a file, s3://BUCKET/KEY, or ssm:/PARAMETER/NAME [default: the one /etc/nbwarden/lifecycle.env names, else /etc/nbwarden/policy.toml; for `lifecycle render`, the policy the scripts load: BUNDLE/policy.toml]' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand apply" -l policy-sha256 -d 'Refuse the policy unless its bytes have this sha256 (hex)' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand apply" -l root -d 'Operate on the tree at DIR instead of `/` (tests, image building)' -r -F
complete -c nbwarden -n "__fish_nbwarden_using_subcommand apply" -l only -d 'Run only these controls (comma-separated ids; shells complete them)' -r -f -a "sudo\t''
packages\t''
variables\t''
git\t''
environment\t''
jupyter\t''
agents\t''
cloudwatch\t''
permissions\t''
boot-exec\t''
egress\t''
control-plane\t''
rpm\t''
service\t''"
complete -c nbwarden -n "__fish_nbwarden_using_subcommand apply" -l output -d 'Report format on stdout' -r -f -a "human\t''
json\t''
junit\t''"
complete -c nbwarden -n "__fish_nbwarden_using_subcommand apply" -l deadline -d 'Time budget of the whole run (e.g. 90s, 4m)' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand apply" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace)'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand apply" -s q -l quiet -d 'Less log output on stderr (-q warnings, -qq errors only)'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand apply" -s h -l help -d 'Print help'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand verify" -l policy -d 'The policy: a file, s3://BUCKET/KEY, or ssm:/PARAMETER/NAME [default: the one /etc/nbwarden/lifecycle.env names, else /etc/nbwarden/policy.toml; for `lifecycle render`, the policy the scripts load: BUNDLE/policy.toml]' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand verify" -l policy-sha256 -d 'Refuse the policy unless its bytes have this sha256 (hex)' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand verify" -l root -d 'Operate on the tree at DIR instead of `/` (tests, image building)' -r -F
complete -c nbwarden -n "__fish_nbwarden_using_subcommand verify" -l only -d 'Run only these controls (comma-separated ids; shells complete them)' -r -f -a "sudo\t''
packages\t''
variables\t''
git\t''
environment\t''
jupyter\t''
agents\t''
cloudwatch\t''
permissions\t''
boot-exec\t''
egress\t''
control-plane\t''
rpm\t''
service\t''"
complete -c nbwarden -n "__fish_nbwarden_using_subcommand verify" -l output -d 'Report format on stdout' -r -f -a "human\t''
json\t''
junit\t''"
complete -c nbwarden -n "__fish_nbwarden_using_subcommand verify" -l deadline -d 'Time budget of the whole run (e.g. 90s, 4m)' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand verify" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace)'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand verify" -s q -l quiet -d 'Less log output on stderr (-q warnings, -qq errors only)'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand verify" -s h -l help -d 'Print help'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand plan" -l policy -d 'The policy: a file, s3://BUCKET/KEY, or ssm:/PARAMETER/NAME [default: the one /etc/nbwarden/lifecycle.env names, else /etc/nbwarden/policy.toml; for `lifecycle render`, the policy the scripts load: BUNDLE/policy.toml]' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand plan" -l policy-sha256 -d 'Refuse the policy unless its bytes have this sha256 (hex)' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand plan" -l root -d 'Operate on the tree at DIR instead of `/` (tests, image building)' -r -F
complete -c nbwarden -n "__fish_nbwarden_using_subcommand plan" -l only -d 'Run only these controls (comma-separated ids; shells complete them)' -r -f -a "sudo\t''
packages\t''
variables\t''
git\t''
environment\t''
jupyter\t''
agents\t''
cloudwatch\t''
permissions\t''
boot-exec\t''
egress\t''
control-plane\t''
rpm\t''
service\t''"
complete -c nbwarden -n "__fish_nbwarden_using_subcommand plan" -l output -d 'Report format on stdout' -r -f -a "human\t''
json\t''
junit\t''"
complete -c nbwarden -n "__fish_nbwarden_using_subcommand plan" -l deadline -d 'Time budget of the whole run (e.g. 90s, 4m)' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand plan" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace)'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand plan" -s q -l quiet -d 'Less log output on stderr (-q warnings, -qq errors only)'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand plan" -s h -l help -d 'Print help'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand status" -l policy -d 'The policy: a file, s3://BUCKET/KEY, or ssm:/PARAMETER/NAME [default: the one /etc/nbwarden/lifecycle.env names, else /etc/nbwarden/policy.toml; for `lifecycle render`, the policy the scripts load: BUNDLE/policy.toml]' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand status" -l policy-sha256 -d 'Refuse the policy unless its bytes have this sha256 (hex)' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand status" -l root -d 'Operate on the tree at DIR instead of `/` (tests, image building)' -r -F
complete -c nbwarden -n "__fish_nbwarden_using_subcommand status" -l only -d 'Run only these controls (comma-separated ids; shells complete them)' -r -f -a "sudo\t''
packages\t''
variables\t''
git\t''
environment\t''
jupyter\t''
agents\t''
cloudwatch\t''
permissions\t''
boot-exec\t''
egress\t''
control-plane\t''
rpm\t''
service\t''"
complete -c nbwarden -n "__fish_nbwarden_using_subcommand status" -l output -d 'Report format on stdout' -r -f -a "human\t''
json\t''
junit\t''"
complete -c nbwarden -n "__fish_nbwarden_using_subcommand status" -l deadline -d 'Time budget of the whole run (e.g. 90s, 4m)' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand status" -l wait -d 'Wait while a run is in progress'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand status" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace)'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand status" -s q -l quiet -d 'Less log output on stderr (-q warnings, -qq errors only)'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand status" -s h -l help -d 'Print help'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand monitor" -l policy -d 'The policy: a file, s3://BUCKET/KEY, or ssm:/PARAMETER/NAME [default: the one /etc/nbwarden/lifecycle.env names, else /etc/nbwarden/policy.toml; for `lifecycle render`, the policy the scripts load: BUNDLE/policy.toml]' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand monitor" -l policy-sha256 -d 'Refuse the policy unless its bytes have this sha256 (hex)' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand monitor" -l root -d 'Operate on the tree at DIR instead of `/` (tests, image building)' -r -F
complete -c nbwarden -n "__fish_nbwarden_using_subcommand monitor" -l only -d 'Run only these controls (comma-separated ids; shells complete them)' -r -f -a "sudo\t''
packages\t''
variables\t''
git\t''
environment\t''
jupyter\t''
agents\t''
cloudwatch\t''
permissions\t''
boot-exec\t''
egress\t''
control-plane\t''
rpm\t''
service\t''"
complete -c nbwarden -n "__fish_nbwarden_using_subcommand monitor" -l output -d 'Report format on stdout' -r -f -a "human\t''
json\t''
junit\t''"
complete -c nbwarden -n "__fish_nbwarden_using_subcommand monitor" -l deadline -d 'Time budget of the whole run (e.g. 90s, 4m)' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand monitor" -l once -d 'One round (drift included), printed as JSON, then exit'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand monitor" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace)'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand monitor" -s q -l quiet -d 'Less log output on stderr (-q warnings, -qq errors only)'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand monitor" -s h -l help -d 'Print help'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand sudo; and not __fish_seen_subcommand_from restore" -l policy -d 'The policy: a file, s3://BUCKET/KEY, or ssm:/PARAMETER/NAME [default: the one /etc/nbwarden/lifecycle.env names, else /etc/nbwarden/policy.toml; for `lifecycle render`, the policy the scripts load: BUNDLE/policy.toml]' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand sudo; and not __fish_seen_subcommand_from restore" -l policy-sha256 -d 'Refuse the policy unless its bytes have this sha256 (hex)' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand sudo; and not __fish_seen_subcommand_from restore" -l root -d 'Operate on the tree at DIR instead of `/` (tests, image building)' -r -F
complete -c nbwarden -n "__fish_nbwarden_using_subcommand sudo; and not __fish_seen_subcommand_from restore" -l only -d 'Run only these controls (comma-separated ids; shells complete them)' -r -f -a "sudo\t''
packages\t''
variables\t''
git\t''
environment\t''
jupyter\t''
agents\t''
cloudwatch\t''
permissions\t''
boot-exec\t''
egress\t''
control-plane\t''
rpm\t''
service\t''"
complete -c nbwarden -n "__fish_nbwarden_using_subcommand sudo; and not __fish_seen_subcommand_from restore" -l output -d 'Report format on stdout' -r -f -a "human\t''
json\t''
junit\t''"
complete -c nbwarden -n "__fish_nbwarden_using_subcommand sudo; and not __fish_seen_subcommand_from restore" -l deadline -d 'Time budget of the whole run (e.g. 90s, 4m)' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand sudo; and not __fish_seen_subcommand_from restore" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace)'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand sudo; and not __fish_seen_subcommand_from restore" -s q -l quiet -d 'Less log output on stderr (-q warnings, -qq errors only)'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand sudo; and not __fish_seen_subcommand_from restore" -s h -l help -d 'Print help'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand sudo; and not __fish_seen_subcommand_from restore" -f -a "restore" -d 'Undo the sudo control: restore backed-up drop-ins and commented-out grants, remove nbwarden\'s deny rules, rejoin the removed groups'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand sudo; and __fish_seen_subcommand_from restore" -l user -d 'The notebook user whose grants nbwarden removed' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand sudo; and __fish_seen_subcommand_from restore" -l policy -d 'The policy: a file, s3://BUCKET/KEY, or ssm:/PARAMETER/NAME [default: the one /etc/nbwarden/lifecycle.env names, else /etc/nbwarden/policy.toml; for `lifecycle render`, the policy the scripts load: BUNDLE/policy.toml]' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand sudo; and __fish_seen_subcommand_from restore" -l policy-sha256 -d 'Refuse the policy unless its bytes have this sha256 (hex)' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand sudo; and __fish_seen_subcommand_from restore" -l root -d 'Operate on the tree at DIR instead of `/` (tests, image building)' -r -F
complete -c nbwarden -n "__fish_nbwarden_using_subcommand sudo; and __fish_seen_subcommand_from restore" -l only -d 'Run only these controls (comma-separated ids; shells complete them)' -r -f -a "sudo\t''
packages\t''
variables\t''
git\t''
environment\t''
jupyter\t''
agents\t''
cloudwatch\t''
permissions\t''
boot-exec\t''
egress\t''
control-plane\t''
rpm\t''
service\t''"
complete -c nbwarden -n "__fish_nbwarden_using_subcommand sudo; and __fish_seen_subcommand_from restore" -l output -d 'Report format on stdout' -r -f -a "human\t''
json\t''
junit\t''"
complete -c nbwarden -n "__fish_nbwarden_using_subcommand sudo; and __fish_seen_subcommand_from restore" -l deadline -d 'Time budget of the whole run (e.g. 90s, 4m)' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand sudo; and __fish_seen_subcommand_from restore" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace)'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand sudo; and __fish_seen_subcommand_from restore" -s q -l quiet -d 'Less log output on stderr (-q warnings, -qq errors only)'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand sudo; and __fish_seen_subcommand_from restore" -s h -l help -d 'Print help'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and not __fish_seen_subcommand_from render notebook-stack guardrail-scp fleet-athena" -l root -d 'Operate on the tree at DIR instead of `/` (tests, image building)' -r -F
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and not __fish_seen_subcommand_from render notebook-stack guardrail-scp fleet-athena" -l only -d 'Run only these controls (comma-separated ids; shells complete them)' -r -f -a "sudo\t''
packages\t''
variables\t''
git\t''
environment\t''
jupyter\t''
agents\t''
cloudwatch\t''
permissions\t''
boot-exec\t''
egress\t''
control-plane\t''
rpm\t''
service\t''"
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and not __fish_seen_subcommand_from render notebook-stack guardrail-scp fleet-athena" -l policy -d 'The policy: a file, s3://BUCKET/KEY, or ssm:/PARAMETER/NAME [default: the one /etc/nbwarden/lifecycle.env names, else /etc/nbwarden/policy.toml; for `lifecycle render`, the policy the scripts load: BUNDLE/policy.toml]' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and not __fish_seen_subcommand_from render notebook-stack guardrail-scp fleet-athena" -l policy-sha256 -d 'Refuse the policy unless its bytes have this sha256 (hex)' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and not __fish_seen_subcommand_from render notebook-stack guardrail-scp fleet-athena" -l output -d 'Report format on stdout' -r -f -a "human\t''
json\t''
junit\t''"
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and not __fish_seen_subcommand_from render notebook-stack guardrail-scp fleet-athena" -l deadline -d 'Time budget of the whole run (e.g. 90s, 4m)' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and not __fish_seen_subcommand_from render notebook-stack guardrail-scp fleet-athena" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace)'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and not __fish_seen_subcommand_from render notebook-stack guardrail-scp fleet-athena" -s q -l quiet -d 'Less log output on stderr (-q warnings, -qq errors only)'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and not __fish_seen_subcommand_from render notebook-stack guardrail-scp fleet-athena" -s h -l help -d 'Print help'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and not __fish_seen_subcommand_from render notebook-stack guardrail-scp fleet-athena" -f -a "render" -d 'Write on-create.sh and on-start.sh for a bundle in S3 (or print their base64 content, or a CloudFormation resource). `--policy` is the policy the scripts load [default: BUNDLE/policy.toml]'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and not __fish_seen_subcommand_from render notebook-stack guardrail-scp fleet-athena" -f -a "notebook-stack" -d 'Print the per-notebook CloudFormation template: one stack per notebook creates the notebook, a role of its own (the notebook role policy, naming that notebook only) and its owner and cost tags'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and not __fish_seen_subcommand_from render notebook-stack guardrail-scp fleet-athena" -f -a "guardrail-scp" -d 'Print the notebook role guardrail as service control policies (a CloudFormation template for the organization\'s management account): the organisation-wide form of the per-notebook guardrail, holding every role under /nbwarden/ in the accounts or OUs named'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and not __fish_seen_subcommand_from render notebook-stack guardrail-scp fleet-athena" -f -a "fleet-athena" -d 'Print the fleet\'s Athena template (for the account of the reports\' bucket): a Glue database with the tables `latest_reports` and `report_history` (projected by day, no crawler) over the record each run writes, and the named queries "not compliant now", "failing since" and "without a current report"'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from render" -l bundle -d 'The bundle\'s location: s3://BUCKET/PREFIX/VERSION' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from render" -l checksums -d 'The bundle\'s SHA256SUMS (lines `HEX  bin/nbwarden-ARCH`)' -r -F
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from render" -l binary-sha256 -d 'A binary\'s sha256 as ARCH=HEX (repeatable), instead of --checksums' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from render" -l s3-endpoint-url -d 'An explicit S3 endpoint for the AWS CLI (VPC endpoints, tests)' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from render" -l out -d 'Where to write the scripts (with --format files)' -r -F
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from render" -l format -r -f -a "files\t''
base64\t''
cloudformation\t''"
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from render" -l name -d 'The lifecycle configuration\'s name (CloudFormation): 1 to 63 letters, digits and hyphens' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from render" -l owner-tag-key -d 'The tag naming who may open a notebook (compared with the user\'s name)' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from render" -l cost-tag-key -d 'The cost-attribution tag' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from render" -l start-budget -d 'The whole on-start script\'s time budget, inside SageMaker\'s 5 minutes (from 30s to 280s): the download gets a quarter of it at most, apply (whose checks are the start\'s verdict) what is left less 15s' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from render" -l root -d 'Operate on the tree at DIR instead of `/` (tests, image building)' -r -F
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from render" -l only -d 'Run only these controls (comma-separated ids; shells complete them)' -r -f -a "sudo\t''
packages\t''
variables\t''
git\t''
environment\t''
jupyter\t''
agents\t''
cloudwatch\t''
permissions\t''
boot-exec\t''
egress\t''
control-plane\t''
rpm\t''
service\t''"
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from render" -l policy -d 'The policy: a file, s3://BUCKET/KEY, or ssm:/PARAMETER/NAME [default: the one /etc/nbwarden/lifecycle.env names, else /etc/nbwarden/policy.toml; for `lifecycle render`, the policy the scripts load: BUNDLE/policy.toml]' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from render" -l policy-sha256 -d 'Refuse the policy unless its bytes have this sha256 (hex)' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from render" -l output -d 'Report format on stdout' -r -f -a "human\t''
json\t''
junit\t''"
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from render" -l deadline -d 'Time budget of the whole run (e.g. 90s, 4m)' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from render" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace)'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from render" -s q -l quiet -d 'Less log output on stderr (-q warnings, -qq errors only)'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from render" -s h -l help -d 'Print help'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from notebook-stack" -l owner-tag-key -d 'The tag naming who may open a notebook (compared with the user\'s name)' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from notebook-stack" -l cost-tag-key -d 'The cost-attribution tag' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from notebook-stack" -l root -d 'Operate on the tree at DIR instead of `/` (tests, image building)' -r -F
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from notebook-stack" -l only -d 'Run only these controls (comma-separated ids; shells complete them)' -r -f -a "sudo\t''
packages\t''
variables\t''
git\t''
environment\t''
jupyter\t''
agents\t''
cloudwatch\t''
permissions\t''
boot-exec\t''
egress\t''
control-plane\t''
rpm\t''
service\t''"
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from notebook-stack" -l policy -d 'The policy: a file, s3://BUCKET/KEY, or ssm:/PARAMETER/NAME [default: the one /etc/nbwarden/lifecycle.env names, else /etc/nbwarden/policy.toml; for `lifecycle render`, the policy the scripts load: BUNDLE/policy.toml]' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from notebook-stack" -l policy-sha256 -d 'Refuse the policy unless its bytes have this sha256 (hex)' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from notebook-stack" -l output -d 'Report format on stdout' -r -f -a "human\t''
json\t''
junit\t''"
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from notebook-stack" -l deadline -d 'Time budget of the whole run (e.g. 90s, 4m)' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from notebook-stack" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace)'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from notebook-stack" -s q -l quiet -d 'Less log output on stderr (-q warnings, -qq errors only)'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from notebook-stack" -s h -l help -d 'Print help'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from guardrail-scp" -l owner-tag-key -d 'The tag naming who may open a notebook (compared with the user\'s name)' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from guardrail-scp" -l cost-tag-key -d 'The cost-attribution tag' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from guardrail-scp" -l root -d 'Operate on the tree at DIR instead of `/` (tests, image building)' -r -F
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from guardrail-scp" -l only -d 'Run only these controls (comma-separated ids; shells complete them)' -r -f -a "sudo\t''
packages\t''
variables\t''
git\t''
environment\t''
jupyter\t''
agents\t''
cloudwatch\t''
permissions\t''
boot-exec\t''
egress\t''
control-plane\t''
rpm\t''
service\t''"
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from guardrail-scp" -l policy -d 'The policy: a file, s3://BUCKET/KEY, or ssm:/PARAMETER/NAME [default: the one /etc/nbwarden/lifecycle.env names, else /etc/nbwarden/policy.toml; for `lifecycle render`, the policy the scripts load: BUNDLE/policy.toml]' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from guardrail-scp" -l policy-sha256 -d 'Refuse the policy unless its bytes have this sha256 (hex)' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from guardrail-scp" -l output -d 'Report format on stdout' -r -f -a "human\t''
json\t''
junit\t''"
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from guardrail-scp" -l deadline -d 'Time budget of the whole run (e.g. 90s, 4m)' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from guardrail-scp" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace)'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from guardrail-scp" -s q -l quiet -d 'Less log output on stderr (-q warnings, -qq errors only)'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from guardrail-scp" -s h -l help -d 'Print help'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from fleet-athena" -l root -d 'Operate on the tree at DIR instead of `/` (tests, image building)' -r -F
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from fleet-athena" -l only -d 'Run only these controls (comma-separated ids; shells complete them)' -r -f -a "sudo\t''
packages\t''
variables\t''
git\t''
environment\t''
jupyter\t''
agents\t''
cloudwatch\t''
permissions\t''
boot-exec\t''
egress\t''
control-plane\t''
rpm\t''
service\t''"
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from fleet-athena" -l policy -d 'The policy: a file, s3://BUCKET/KEY, or ssm:/PARAMETER/NAME [default: the one /etc/nbwarden/lifecycle.env names, else /etc/nbwarden/policy.toml; for `lifecycle render`, the policy the scripts load: BUNDLE/policy.toml]' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from fleet-athena" -l policy-sha256 -d 'Refuse the policy unless its bytes have this sha256 (hex)' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from fleet-athena" -l output -d 'Report format on stdout' -r -f -a "human\t''
json\t''
junit\t''"
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from fleet-athena" -l deadline -d 'Time budget of the whole run (e.g. 90s, 4m)' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from fleet-athena" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace)'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from fleet-athena" -s q -l quiet -d 'Less log output on stderr (-q warnings, -qq errors only)'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand lifecycle; and __fish_seen_subcommand_from fleet-athena" -s h -l help -d 'Print help'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand fleet; and not __fish_seen_subcommand_from summary" -l root -d 'Operate on the tree at DIR instead of `/` (tests, image building)' -r -F
complete -c nbwarden -n "__fish_nbwarden_using_subcommand fleet; and not __fish_seen_subcommand_from summary" -l only -d 'Run only these controls (comma-separated ids; shells complete them)' -r -f -a "sudo\t''
packages\t''
variables\t''
git\t''
environment\t''
jupyter\t''
agents\t''
cloudwatch\t''
permissions\t''
boot-exec\t''
egress\t''
control-plane\t''
rpm\t''
service\t''"
complete -c nbwarden -n "__fish_nbwarden_using_subcommand fleet; and not __fish_seen_subcommand_from summary" -l policy -d 'The policy: a file, s3://BUCKET/KEY, or ssm:/PARAMETER/NAME [default: the one /etc/nbwarden/lifecycle.env names, else /etc/nbwarden/policy.toml; for `lifecycle render`, the policy the scripts load: BUNDLE/policy.toml]' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand fleet; and not __fish_seen_subcommand_from summary" -l policy-sha256 -d 'Refuse the policy unless its bytes have this sha256 (hex)' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand fleet; and not __fish_seen_subcommand_from summary" -l output -d 'Report format on stdout' -r -f -a "human\t''
json\t''
junit\t''"
complete -c nbwarden -n "__fish_nbwarden_using_subcommand fleet; and not __fish_seen_subcommand_from summary" -l deadline -d 'Time budget of the whole run (e.g. 90s, 4m)' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand fleet; and not __fish_seen_subcommand_from summary" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace)'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand fleet; and not __fish_seen_subcommand_from summary" -s q -l quiet -d 'Less log output on stderr (-q warnings, -qq errors only)'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand fleet; and not __fish_seen_subcommand_from summary" -s h -l help -d 'Print help'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand fleet; and not __fish_seen_subcommand_from summary" -f -a "summary" -d 'Every notebook\'s latest report: which fail, which controls, since when. Exits 1 when any notebook is not compliant (or, with --cross-check, is flagged), 4 when no report was found under the prefix'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand fleet; and __fish_seen_subcommand_from summary" -l bucket -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand fleet; and __fish_seen_subcommand_from summary" -l prefix -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand fleet; and __fish_seen_subcommand_from summary" -l profile -d 'The AWS profile to use, as `aws --profile` (IAM Identity Center, credential_process, assumed roles) [default: AWS_PROFILE, else the default chain]' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand fleet; and __fish_seen_subcommand_from summary" -l region -d 'The region of your calls, as `aws --region` [default: AWS_REGION, else the profile\'s]. With --cross-check its notebooks are listed' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand fleet; and __fish_seen_subcommand_from summary" -l owner-tag-key -d 'With --cross-check: the tag naming a notebook\'s owner' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand fleet; and __fish_seen_subcommand_from summary" -l cost-tag-key -d 'With --cross-check: the cost-attribution tag' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand fleet; and __fish_seen_subcommand_from summary" -l lifecycle-config -d 'With --cross-check: the fleet\'s lifecycle configurations (as `lifecycle render --name`; comma-separated or repeated, such as the fleet\'s and a canary\'s); a notebook that starts with another, or none, never runs nbwarden and is flagged' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand fleet; and __fish_seen_subcommand_from summary" -l regions -d 'With --cross-check: also list the notebooks of these regions (comma-separated or repeated), besides those the reports name and your own' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand fleet; and __fish_seen_subcommand_from summary" -l job-days -d 'With --cross-check: how many days back to list the training, processing and transform jobs run with a notebook\'s role (each is judged against `[governance]` of --policy, else its defaults)' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand fleet; and __fish_seen_subcommand_from summary" -l accounts -d 'With --cross-check: reach these accounts (`organization`: every active account of your organization, from ListAccounts; or account ids, comma-separated or repeated) by assuming --role-name in each, and cross-check each account\'s notebooks with its own answers. An account that cannot be reached is a row of its own' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand fleet; and __fish_seen_subcommand_from summary" -l role-name -d 'With --accounts: the role assumed in each account (see packaging/iam-fleet-reader-policy.json)' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand fleet; and __fish_seen_subcommand_from summary" -l root -d 'Operate on the tree at DIR instead of `/` (tests, image building)' -r -F
complete -c nbwarden -n "__fish_nbwarden_using_subcommand fleet; and __fish_seen_subcommand_from summary" -l only -d 'Run only these controls (comma-separated ids; shells complete them)' -r -f -a "sudo\t''
packages\t''
variables\t''
git\t''
environment\t''
jupyter\t''
agents\t''
cloudwatch\t''
permissions\t''
boot-exec\t''
egress\t''
control-plane\t''
rpm\t''
service\t''"
complete -c nbwarden -n "__fish_nbwarden_using_subcommand fleet; and __fish_seen_subcommand_from summary" -l policy -d 'The policy: a file, s3://BUCKET/KEY, or ssm:/PARAMETER/NAME [default: the one /etc/nbwarden/lifecycle.env names, else /etc/nbwarden/policy.toml; for `lifecycle render`, the policy the scripts load: BUNDLE/policy.toml]' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand fleet; and __fish_seen_subcommand_from summary" -l policy-sha256 -d 'Refuse the policy unless its bytes have this sha256 (hex)' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand fleet; and __fish_seen_subcommand_from summary" -l output -d 'Report format on stdout' -r -f -a "human\t''
json\t''
junit\t''"
complete -c nbwarden -n "__fish_nbwarden_using_subcommand fleet; and __fish_seen_subcommand_from summary" -l deadline -d 'Time budget of the whole run (e.g. 90s, 4m)' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand fleet; and __fish_seen_subcommand_from summary" -l cross-check -d 'Hold each report against what SageMaker tells your own credentials (DescribeNotebookInstance: KMS key, direct internet access, root access, status, last change; ListNotebookInstances; ListTags): flags reports that disagree, that are from an earlier start, notebooks in service with no report, and every notebook without an owner or cost tag, sharing its role with another, or with direct internet or root access. Reports are written with the notebook\'s role, which its user holds too'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand fleet; and __fish_seen_subcommand_from summary" -l allow-root-access -d 'With --cross-check: do not flag RootAccess Enabled'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand fleet; and __fish_seen_subcommand_from summary" -l security-hub -d 'With --cross-check: publish the result to Security Hub in your account and region (BatchImportFindings): one finding per notebook and failing control, one per notebook whose report the control plane contradicts or that has none; findings of earlier runs that no longer hold are archived. Each account\'s notebooks go to that account\'s Security Hub (with --accounts, through its role; else only your own account\'s: Security Hub takes a finding only from its account)'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand fleet; and __fish_seen_subcommand_from summary" -l require-root-access-disabled -d 'Root access is flagged by default now; kept so that scripts written for earlier versions still run'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand fleet; and __fish_seen_subcommand_from summary" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace)'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand fleet; and __fish_seen_subcommand_from summary" -s q -l quiet -d 'Less log output on stderr (-q warnings, -qq errors only)'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand fleet; and __fish_seen_subcommand_from summary" -s h -l help -d 'Print help'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand policy; and not __fish_seen_subcommand_from validate schema" -l policy -d 'The policy: a file, s3://BUCKET/KEY, or ssm:/PARAMETER/NAME [default: the one /etc/nbwarden/lifecycle.env names, else /etc/nbwarden/policy.toml; for `lifecycle render`, the policy the scripts load: BUNDLE/policy.toml]' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand policy; and not __fish_seen_subcommand_from validate schema" -l policy-sha256 -d 'Refuse the policy unless its bytes have this sha256 (hex)' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand policy; and not __fish_seen_subcommand_from validate schema" -l root -d 'Operate on the tree at DIR instead of `/` (tests, image building)' -r -F
complete -c nbwarden -n "__fish_nbwarden_using_subcommand policy; and not __fish_seen_subcommand_from validate schema" -l only -d 'Run only these controls (comma-separated ids; shells complete them)' -r -f -a "sudo\t''
packages\t''
variables\t''
git\t''
environment\t''
jupyter\t''
agents\t''
cloudwatch\t''
permissions\t''
boot-exec\t''
egress\t''
control-plane\t''
rpm\t''
service\t''"
complete -c nbwarden -n "__fish_nbwarden_using_subcommand policy; and not __fish_seen_subcommand_from validate schema" -l output -d 'Report format on stdout' -r -f -a "human\t''
json\t''
junit\t''"
complete -c nbwarden -n "__fish_nbwarden_using_subcommand policy; and not __fish_seen_subcommand_from validate schema" -l deadline -d 'Time budget of the whole run (e.g. 90s, 4m)' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand policy; and not __fish_seen_subcommand_from validate schema" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace)'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand policy; and not __fish_seen_subcommand_from validate schema" -s q -l quiet -d 'Less log output on stderr (-q warnings, -qq errors only)'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand policy; and not __fish_seen_subcommand_from validate schema" -s h -l help -d 'Print help'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand policy; and not __fish_seen_subcommand_from validate schema" -f -a "validate" -d 'Check a policy file; errors name line and column'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand policy; and not __fish_seen_subcommand_from validate schema" -f -a "schema" -d 'Print the policy\'s JSON Schema'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand policy; and __fish_seen_subcommand_from validate" -l policy -d 'The policy: a file, s3://BUCKET/KEY, or ssm:/PARAMETER/NAME [default: the one /etc/nbwarden/lifecycle.env names, else /etc/nbwarden/policy.toml; for `lifecycle render`, the policy the scripts load: BUNDLE/policy.toml]' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand policy; and __fish_seen_subcommand_from validate" -l policy-sha256 -d 'Refuse the policy unless its bytes have this sha256 (hex)' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand policy; and __fish_seen_subcommand_from validate" -l root -d 'Operate on the tree at DIR instead of `/` (tests, image building)' -r -F
complete -c nbwarden -n "__fish_nbwarden_using_subcommand policy; and __fish_seen_subcommand_from validate" -l only -d 'Run only these controls (comma-separated ids; shells complete them)' -r -f -a "sudo\t''
packages\t''
variables\t''
git\t''
environment\t''
jupyter\t''
agents\t''
cloudwatch\t''
permissions\t''
boot-exec\t''
egress\t''
control-plane\t''
rpm\t''
service\t''"
complete -c nbwarden -n "__fish_nbwarden_using_subcommand policy; and __fish_seen_subcommand_from validate" -l output -d 'Report format on stdout' -r -f -a "human\t''
json\t''
junit\t''"
complete -c nbwarden -n "__fish_nbwarden_using_subcommand policy; and __fish_seen_subcommand_from validate" -l deadline -d 'Time budget of the whole run (e.g. 90s, 4m)' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand policy; and __fish_seen_subcommand_from validate" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace)'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand policy; and __fish_seen_subcommand_from validate" -s q -l quiet -d 'Less log output on stderr (-q warnings, -qq errors only)'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand policy; and __fish_seen_subcommand_from validate" -s h -l help -d 'Print help'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand policy; and __fish_seen_subcommand_from schema" -l policy -d 'The policy: a file, s3://BUCKET/KEY, or ssm:/PARAMETER/NAME [default: the one /etc/nbwarden/lifecycle.env names, else /etc/nbwarden/policy.toml; for `lifecycle render`, the policy the scripts load: BUNDLE/policy.toml]' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand policy; and __fish_seen_subcommand_from schema" -l policy-sha256 -d 'Refuse the policy unless its bytes have this sha256 (hex)' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand policy; and __fish_seen_subcommand_from schema" -l root -d 'Operate on the tree at DIR instead of `/` (tests, image building)' -r -F
complete -c nbwarden -n "__fish_nbwarden_using_subcommand policy; and __fish_seen_subcommand_from schema" -l only -d 'Run only these controls (comma-separated ids; shells complete them)' -r -f -a "sudo\t''
packages\t''
variables\t''
git\t''
environment\t''
jupyter\t''
agents\t''
cloudwatch\t''
permissions\t''
boot-exec\t''
egress\t''
control-plane\t''
rpm\t''
service\t''"
complete -c nbwarden -n "__fish_nbwarden_using_subcommand policy; and __fish_seen_subcommand_from schema" -l output -d 'Report format on stdout' -r -f -a "human\t''
json\t''
junit\t''"
complete -c nbwarden -n "__fish_nbwarden_using_subcommand policy; and __fish_seen_subcommand_from schema" -l deadline -d 'Time budget of the whole run (e.g. 90s, 4m)' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand policy; and __fish_seen_subcommand_from schema" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace)'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand policy; and __fish_seen_subcommand_from schema" -s q -l quiet -d 'Less log output on stderr (-q warnings, -qq errors only)'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand policy; and __fish_seen_subcommand_from schema" -s h -l help -d 'Print help'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand version" -l policy -d 'The policy: a file, s3://BUCKET/KEY, or ssm:/PARAMETER/NAME [default: the one /etc/nbwarden/lifecycle.env names, else /etc/nbwarden/policy.toml; for `lifecycle render`, the policy the scripts load: BUNDLE/policy.toml]' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand version" -l policy-sha256 -d 'Refuse the policy unless its bytes have this sha256 (hex)' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand version" -l root -d 'Operate on the tree at DIR instead of `/` (tests, image building)' -r -F
complete -c nbwarden -n "__fish_nbwarden_using_subcommand version" -l only -d 'Run only these controls (comma-separated ids; shells complete them)' -r -f -a "sudo\t''
packages\t''
variables\t''
git\t''
environment\t''
jupyter\t''
agents\t''
cloudwatch\t''
permissions\t''
boot-exec\t''
egress\t''
control-plane\t''
rpm\t''
service\t''"
complete -c nbwarden -n "__fish_nbwarden_using_subcommand version" -l output -d 'Report format on stdout' -r -f -a "human\t''
json\t''
junit\t''"
complete -c nbwarden -n "__fish_nbwarden_using_subcommand version" -l deadline -d 'Time budget of the whole run (e.g. 90s, 4m)' -r
complete -c nbwarden -n "__fish_nbwarden_using_subcommand version" -s v -l verbose -d 'More log output on stderr (-v debug, -vv trace)'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand version" -s q -l quiet -d 'Less log output on stderr (-q warnings, -qq errors only)'
complete -c nbwarden -n "__fish_nbwarden_using_subcommand version" -s h -l help -d 'Print help'
