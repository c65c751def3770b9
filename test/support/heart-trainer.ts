/**
 * The built-in trainer the integration tests' heart-disease jobs use: logistic regression on four
 * columns of the tests' heart.csv, one quick epoch per round (the tests are about the system, not the
 * model's accuracy).
 */
export const HEART_TRAINER = {
  localEpochs: 1,
  batchSize: 32,
  learningRate: 0.1,
  builtin: {
    model: 'LogisticRegression',
    dataset: {
      missingValues: ['?'],
      label: { column: 13, positiveAbove: 0 },
      features: [
        { name: 'age', column: 0 },
        { name: 'sex', column: 1 },
        { name: 'trestbps', column: 3 },
        { name: 'thalach', column: 7 },
      ],
    },
  },
};
