import { native } from '../../src/native.js';

export const cpuFeatures = () => native.cpuFeatures();
