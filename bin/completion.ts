/**
 * `warden completion bash|zsh`: a completion script for the shell, built from the same command
 * and option tables the CLI parses with (so a new option completes without editing this file).
 *
 *   source <(warden completion bash)          # bash: add to ~/.bashrc
 *   source <(warden completion zsh)           # zsh: add to ~/.zshrc (after compinit)
 */
import { ALL_STATUSES } from '../server/domain/status';
import { WEBHOOK_EVENTS } from '../server/domain/webhook-events';
import { COMMON_OPTIONS, FORMATS } from './cli-common';

export type CommandTree = Record<string, Record<string, Record<string, unknown>>>;

/** Values an option completes to. */
const VALUES: Record<string, readonly string[]> = { output: FORMATS, status: ALL_STATUSES, event: WEBHOOK_EVENTS };

function flags(opts: Record<string, unknown>): string[] {
  return [...Object.keys(opts), ...Object.keys(COMMON_OPTIONS)].map((o) => `--${o}`);
}

export function bashCompletion(tree: CommandTree): string {
  const cases = Object.entries(tree)
    .flatMap(([noun, verbs]) => Object.entries(verbs).map(([verb, opts]) => `    "${noun} ${verb}") opts="${flags(opts).join(' ')}" ;;`))
    .join('\n');
  const verbs = Object.entries(tree)
    .map(([noun, v]) => `    ${noun}) COMPREPLY=( $(compgen -W "${Object.keys(v).join(' ')}" -- "$cur") ); return ;;`)
    .join('\n');
  const values = Object.entries(VALUES)
    .map(([o, vals]) => `    --${o}${o === 'output' ? '|-o' : ''}) COMPREPLY=( $(compgen -W "${vals.join(' ')}" -- "$cur") ); return ;;`)
    .join('\n');
  return `# bash completion for warden (warden completion bash)
_warden() {
  local cur prev opts
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  case "$prev" in
${values}
  esac
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=( $(compgen -W "${Object.keys(tree).join(' ')} help" -- "$cur") ); return
  fi
  if [ "$COMP_CWORD" -eq 2 ]; then
    case "\${COMP_WORDS[1]}" in
${verbs}
    esac
    return
  fi
  opts=""
  case "\${COMP_WORDS[1]} \${COMP_WORDS[2]}" in
${cases}
  esac
  if [[ "$cur" == -* ]]; then COMPREPLY=( $(compgen -W "$opts" -- "$cur") ); fi
}
complete -F _warden warden
`;
}

export function zshCompletion(tree: CommandTree): string {
  const verbs = Object.entries(tree)
    .map(([noun, v]) => `      ${noun}) _values 'command' ${Object.keys(v).map((x) => `'${x}'`).join(' ')} ;;`)
    .join('\n');
  const cases = Object.entries(tree)
    .flatMap(([noun, vs]) =>
      Object.entries(vs).map(([verb, opts]) => {
        const specs = flags(opts).map((f) => {
          const vals = VALUES[f.slice(2)];
          return vals ? `'${f}[${f.slice(2)}]:${f.slice(2)}:(${vals.join(' ')})'` : `'${f}'`;
        });
        return `        "${noun} ${verb}") _arguments -s ${specs.join(' ')} '*::arg:_default' ;;`;
      }),
    )
    .join('\n');
  return `#compdef warden
# zsh completion for warden (warden completion zsh)
_warden() {
  if (( CURRENT == 2 )); then
    _values 'command' ${Object.keys(tree).map((x) => `'${x}'`).join(' ')} 'help'
    return
  fi
  if (( CURRENT == 3 )); then
    case "\${words[2]}" in
${verbs}
    esac
    return
  fi
  case "\${words[2]} \${words[3]}" in
${cases}
  esac
}
compdef _warden warden
`;
}
