// Chat templates: the Jinja source from tokenizer_config.json (or chat_template.jinja),
// rendered with @huggingface/jinja and the variables transformers passes.
import { Template } from '@huggingface/jinja';
import { TokenizerError, type ChatMessage, type ChatTemplateOptions } from './types.js';

export interface TemplateSpecials {
  bos_token?: string;
  eos_token?: string;
  pad_token?: string;
  unk_token?: string;
}

/** A parsed template, ready to render many prompts. */
export class ChatTemplate {
  readonly source: string;
  private readonly template: Template;
  constructor(
    source: string,
    private readonly specials: TemplateSpecials = {},
    private readonly origin = 'chat template',
  ) {
    this.source = source;
    try {
      this.template = new Template(source);
    } catch (err) {
      throw new TokenizerError('E_CHAT_TEMPLATE', `${origin}: cannot parse the chat template: ${(err as Error).message}`, { cause: err });
    }
  }

  render(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): string {
    checkMessages(messages);
    const vars: Record<string, unknown> = {
      // transformers' apply_chat_template passes the special tokens as strings ('' when unset
      // would change `is none` tests, so unset ones are left out).
      ...Object.fromEntries(Object.entries(this.specials).filter(([, v]) => v !== undefined)),
      messages: messages.map((m) => ({ role: m.role, content: m.content })),
      add_generation_prompt: options.addGenerationPrompt ?? true,
      // raise_exception and strftime_now are built into @huggingface/jinja.
      ...options.templateVars,
    };
    try {
      return this.template.render(vars);
    } catch (err) {
      throw new TokenizerError('E_CHAT_TEMPLATE', `${this.origin}: rendering failed: ${(err as Error).message}`, { cause: err });
    }
  }
}

export function checkMessages(messages: readonly ChatMessage[]): void {
  if (!Array.isArray(messages)) throw new TypeError('messages must be an array of { role, content }');
  messages.forEach((m, i) => {
    if (m === null || typeof m !== 'object' || typeof m.role !== 'string' || typeof m.content !== 'string') {
      throw new TypeError(`messages[${i}] must be { role: string, content: string }`);
    }
  });
}
