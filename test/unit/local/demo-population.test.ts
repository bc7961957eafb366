import { describe, expect, it } from 'vitest';
import { accountOf } from '../../../lib/core/account.ts';
import { officeDomain } from '../../../lib/local/demo-population.ts';
import { defaultModel } from '../../setup/model.ts';

describe("the population's offices", () => {
  it("puts a company's people outside the US on its country's domain, each office an account of its own", () => {
    expect(officeDomain('northwind-analytics.com', 'US')).toBe('northwind-analytics.com');
    expect(officeDomain('northwind-analytics.com', 'DE')).toBe('northwind-analytics.de');
    expect(officeDomain('orbitmedia.co', 'GB')).toBe('orbitmedia.co.uk');
    expect(officeDomain('brightline.io', 'AU')).toBe('brightline.com.au');
    const accounts = ['US', 'GB', 'DE', 'CA', 'FR', 'AU', 'NL', 'IN'].map(
      (country) => accountOf({ email: `dana@${officeDomain('harborhealth.org', country)}` }, defaultModel)?.key,
    );
    expect(accounts).toEqual([
      'harborhealth.org',
      'harborhealth.co.uk',
      'harborhealth.de',
      'harborhealth.ca',
      'harborhealth.fr',
      'harborhealth.com.au',
      'harborhealth.nl',
      'harborhealth.in',
    ]);
  });
});
