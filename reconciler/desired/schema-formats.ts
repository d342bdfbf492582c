/**
 * The JSON Schema formats the schemas use, shared by the validator generator and the generated validators
 * (schema-validators.ts imports them by name: ajv's standalone code cannot carry the functions themselves).
 * date-time is the only one; a small check keeps ajv-formats out of the dependency tree.
 */
export const formats = {
  'date-time': {
    type: 'string',
    validate: (s: string): boolean => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(s) && !Number.isNaN(Date.parse(s)),
  },
} as const;
