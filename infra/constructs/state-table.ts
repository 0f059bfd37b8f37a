// The one DynamoDB table: a state item and audit history per instance (docs/architecture.md "State model"). Key and index names
// come from the shared schema, so the store and the table cannot drift apart.
import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { FLEET_INDEX, STATUS_INDEX, TABLE_KEYS, TTL_ATTRIBUTE } from '../../functions/shared/table-schema.js';

export interface StateTableProps {
  /**
   * Refuse to delete the table (CloudFormation deletion protection). The table is also retained when the
   * stack is deleted either way: it holds the audit history.
   * @default true
   */
  readonly deletionProtection?: boolean;
}

export class StateTable extends Construct {
  public readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string, props: StateTableProps = {}) {
    super(scope, id);
    const str = dynamodb.AttributeType.STRING;
    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: TABLE_KEYS.partitionKey, type: str },
      sortKey: { name: TABLE_KEYS.sortKey, type: str },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: TTL_ATTRIBUTE,
      deletionProtection: props.deletionProtection ?? true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // Due work without a scan: expired leases and scheduled retries by status, ordered by due time.
    this.table.addGlobalSecondaryIndex({
      indexName: STATUS_INDEX.name,
      partitionKey: { name: STATUS_INDEX.partitionKey, type: str },
      sortKey: { name: STATUS_INDEX.sortKey, type: str },
      projectionType: dynamodb.ProjectionType.ALL,
    });
    // Sparse (only state items carry fleetPk) and narrow: the sweep reads the whole fleet in a few pages.
    this.table.addGlobalSecondaryIndex({
      indexName: FLEET_INDEX.name,
      partitionKey: { name: FLEET_INDEX.partitionKey, type: str },
      sortKey: { name: FLEET_INDEX.sortKey, type: str },
      projectionType: dynamodb.ProjectionType.INCLUDE,
      nonKeyAttributes: [...FLEET_INDEX.projectedAttributes],
    });
  }
}
