export { AppError, commonError, defineErrorCodes } from './app-error';
export { type FieldProblem, toErrorBody } from './error-body';
export { ErrorFilter } from './error.filter';
export {
  certificateProblem,
  certificateStartupError,
  type CertificateProblem,
  StartupError,
} from './startup-error';
