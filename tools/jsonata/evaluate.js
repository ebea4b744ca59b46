#!/usr/bin/env node
// Evaluates JSONata expressions with the reference implementation (npm `jsonata`), binding
// `$states` as Step Functions does.
//
// Standard input: a JSON array of cases, each {"expression": "...", "states": {...}}; the
// expression is the text between `{%` and `%}`. Standard output: a JSON array with one entry per
// case: {"value": ...}, {"undefined": true} (Step Functions rejects an expression that yields
// nothing), or {"error": "..."}.
"use strict";

const jsonata = require("jsonata");

async function evaluate(testCase) {
  try {
    const expression = jsonata(testCase.expression);
    // Step Functions offers the state's data through $states only.
    const value = await expression.evaluate(undefined, { states: testCase.states ?? {} });
    return value === undefined ? { undefined: true } : { value };
  } catch (error) {
    return { error: `${error.code ?? "error"}: ${error.message}` };
  }
}

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk);
  }
  const cases = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  const results = [];
  for (const testCase of cases) {
    results.push(await evaluate(testCase));
  }
  process.stdout.write(JSON.stringify(results));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
