import * as v1 from '../../src/feed/v1/index.ts';
import * as v2 from '../../src/feed/v2/index.ts';
import { contractSuite } from './contract.case.ts';

contractSuite({ feed: v1, counter: 'likes' });
contractSuite({ feed: v2, counter: 'reactions' });
