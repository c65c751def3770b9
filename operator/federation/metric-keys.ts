/**
 * Names in Metrics.extra that both sides of the federation protocol read. Under spec.personalization
 * a site's final evaluation carries its fine-tuned model's figures, on the same test records.
 */
export const FINE_TUNED_LOSS = 'fineTuned.loss';
export const FINE_TUNED_ACCURACY = 'fineTuned.accuracy';
