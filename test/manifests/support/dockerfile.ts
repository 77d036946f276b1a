/**
 * A small reader of Dockerfiles: stages and their instructions, with line continuations and
 * comments handled as Docker's parser does for the forms this repository uses. No Docker engine
 * runs here, so the Dockerfile is checked by reading it, not by building it.
 */

export interface Instruction {
  readonly keyword: string;
  readonly args: string;
  readonly line: number;
}

export interface Stage {
  readonly image: string;
  readonly name?: string;
  readonly instructions: Instruction[];
}

export function parseDockerfile(text: string): Stage[] {
  const instructions: Instruction[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i + 1;
    let line = lines[i]!;
    if (/^\s*(#|$)/.test(line)) continue;
    // A trailing backslash joins the next line; comment lines inside the continuation are dropped.
    while (/\\\s*$/.test(line) && i + 1 < lines.length) {
      line = line.replace(/\\\s*$/, ' ');
      i++;
      if (!/^\s*#/.test(lines[i]!)) line += lines[i]!;
    }
    const m = /^\s*(\S+)\s*(.*)$/.exec(line)!;
    instructions.push({ keyword: m[1]!.toUpperCase(), args: m[2]!.trim().replace(/\s+/g, ' '), line: start });
  }
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) throw new Error(`Dockerfile:${ins.line}: cannot read FROM ${ins.args}`);
      stages.push({ image: m[1]!, ...(m[2] ? { name: m[2] } : {}), instructions: [] });
    } else if (stages.length === 0) {
      if (ins.keyword !== 'ARG') throw new Error(`Dockerfile:${ins.line}: ${ins.keyword} before the first FROM`);
    } else {
      stages[stages.length - 1]!.instructions.push(ins);
    }
  }
  return stages;
}

/** The JSON (exec) form of ENTRYPOINT / CMD; throws on the shell form, which breaks signal delivery. */
export function execForm(ins: Instruction): string[] {
  const value: unknown = JSON.parse(ins.args);
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw new Error(`Dockerfile:${ins.line}: ${ins.keyword} is not in exec form`);
  return value;
}

/** COPY's flags (`--from=build`) and its sources and destination. */
export function copyParts(ins: Instruction): { flags: Record<string, string>; sources: string[]; dest: string } {
  const words = ins.args.split(' ');
  const flags: Record<string, string> = {};
  while (words[0]?.startsWith('--')) {
    const [k, v] = words.shift()!.slice(2).split('=');
    flags[k!] = v ?? '';
  }
  const dest = words.pop()!;
  return { flags, sources: words, dest };
}
