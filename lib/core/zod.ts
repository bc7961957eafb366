/**
 * zod as this repository uses it: the `zod/mini` API (`import * as z from 'zod/mini'`), whose functions a bundler
 * drops when unused, with zod's English messages, which `zod/mini` leaves out unless configured and which the
 * errors this repository reports quote (a model's problems, a refused record's reason). Every module that
 * declares a schema imports this file once. The classic `zod` API bundles every schema type's methods (its
 * JSON Schema conversion among them) into each Lambda function: about 95 KB of the 400 KB a bundle may take
 * (docs/benchmarks.md, "Cold start").
 */

import { en } from 'zod/locales';
import { config } from 'zod/mini';

config(en());
