// The DAPO-Math-17k schema (BytedTsinghua-SIA/DAPO-Math-17k), for fixtures and for
// users who want to write their own data in the layout the trainer reads by default.
import { Field, List, Schema, Struct, Table, Utf8, vectorFromArray, type Vector } from 'apache-arrow';

export interface Math17kRow {
  data_source: string;
  prompt: Array<{ content: string; role: string }>;
  ability: string;
  reward_model: { ground_truth: string; style: string };
  extra_info: { index: string };
}

const str = (name: string) => new Field(name, new Utf8(), true);

/**
 * data_source: string, prompt: list<struct<content: string, role: string>>,
 * ability: string, reward_model: struct<ground_truth: string, style: string>,
 * extra_info: struct<index: string>; every field nullable, as pyarrow writes them.
 */
export const MATH17K_SCHEMA = new Schema([
  str('data_source'),
  new Field('prompt', new List(new Field('item', new Struct([str('content'), str('role')]), true)), true),
  str('ability'),
  new Field('reward_model', new Struct([str('ground_truth'), str('style')]), true),
  new Field('extra_info', new Struct([str('index')]), true),
]);

/** An Arrow table in exactly the DAPO-Math-17k schema. */
export function math17kTable(rows: readonly Math17kRow[]): Table {
  const columns: Record<string, Vector> = {};
  for (const field of MATH17K_SCHEMA.fields) {
    columns[field.name] = vectorFromArray(rows.map((r) => r[field.name as keyof Math17kRow]) as never[], field.type);
  }
  return new Table(columns);
}

/** The prompt text DAPO-Math-17k wraps every problem in. */
export function math17kPrompt(problem: string): string {
  return (
    'Solve the following math problem step by step. The last line of your response should be of the form ' +
    'Answer: $Answer (without quotes) where $Answer is the answer to the problem.\n\n' +
    problem +
    '\n\nRemember to put your answer on its own line after "Answer:".'
  );
}
