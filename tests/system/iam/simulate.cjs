// The IAM simulator for the policy tests: npm's @cloud-copilot/iam-simulate
// (a test-time tool, never shipped), installed by tests/system/services.
// stdin: a JSON array of cases, each
//   {identity: [{name, policy}], scp: [{name, policy}], principal, action,
//    resource, resource_account (default: the principal's),
//    context: {key: value or [values]}, resource_policy}
// stdout: a JSON array, one {result, errors} per case; `result` is
// Allowed, ExplicitlyDenied or ImplicitlyDenied, or null with `errors`
// when the simulator refused the request (an unknown action, a context key
// the action does not take, a malformed policy).
const { runSimulation } = require('@cloud-copilot/iam-simulate');

async function one(c) {
  const account = c.principal.split(':')[4];
  const simulation = {
    request: {
      principal: c.principal,
      action: c.action,
      // The resource's own account (a role trusted across accounts) when given.
      resource: { resource: c.resource, accountId: c.resource_account || account },
      // AWS sets aws:PrincipalArn on every signed request; the simulator
      // leaves it to the caller.
      contextVariables: { 'aws:PrincipalArn': c.principal, ...(c.context || {}) },
    },
    identityPolicies: c.identity,
    serviceControlPolicies: (c.scp || []).length
      ? [{ orgIdentifier: 'r-root', policies: [{ name: 'FullAWSAccess', policy: FULL }] },
         { orgIdentifier: account, policies: [{ name: 'FullAWSAccess', policy: FULL }, ...c.scp] }]
      : [],
    resourceControlPolicies: [],
    resourcePolicy: c.resource_policy,
  };
  const answer = await runSimulation(simulation, {});
  if (answer.errors) return { result: null, errors: answer.errors };
  return { result: answer.overallResult, errors: null };
}

const FULL = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] };

let input = '';
process.stdin.on('data', (d) => (input += d));
process.stdin.on('end', async () => {
  const out = [];
  for (const c of JSON.parse(input)) out.push(await one(c));
  process.stdout.write(JSON.stringify(out));
});
